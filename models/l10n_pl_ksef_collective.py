"""KSeF collective identifiers (identyfikator zbiorczy) kept in Odoo.

One record per identifier and company, with the invoices it groups and the amount paid for each:

* ``outgoing``: requested by this company when one payment pays several KSeF bills of one vendor
  (``_l10n_pl_ksef_request``); the payment's memo;
* ``incoming``: an identifier found in a bank statement line, resolved through KSeF
  (``_l10n_pl_ksef_resolve``): which of our invoices a buyer's transfer pays, and how much.

The KSeF core does the protocol (``ksef.collective``); this model only stores what KSeF said.
"""

from markupsafe import Markup, escape
from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools.misc import formatLang

from ..ksef import collective as ksef_collective
from ..ksef import errors as ksef_errors
from ..tools import ksef_i18n


class L10nPlKsefCollective(models.Model):
    _name = "l10n_pl_ksef.collective"
    _inherit = ["mail.thread"]
    _description = "KSeF collective identifier"
    _order = "create_date desc, id desc"

    name = fields.Char(string="Collective identifier", required=True, readonly=True, index=True)
    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True,
                                 default=lambda self: self.env.company)
    direction = fields.Selection(
        [("outgoing", "Requested for our payment"), ("incoming", "Received in a bank statement")],
        required=True, readonly=True, default="outgoing")
    seller_nip = fields.Char(string="Seller NIP", compute="_compute_seller_nip", store=True)
    line_ids = fields.One2many("l10n_pl_ksef.collective.line", "collective_id",
                               string="Invoices", readonly=True)
    invoice_count = fields.Integer(compute="_compute_invoice_count", string="Invoices count")
    payment_ids = fields.One2many("account.payment", "l10n_pl_ksef_collective_id",
                                  string="Payments", readonly=True)

    _name_company_uniq = models.Constraint(
        "unique(company_id, name)", "A collective identifier is stored once per company.")

    @api.depends("name")
    def _compute_seller_nip(self):
        for record in self:
            record.seller_nip = (record.name or "")[:10] or False

    @api.depends("line_ids")
    def _compute_invoice_count(self):
        for record in self:
            record.invoice_count = len(record.line_ids)

    # --- requesting one (our payments) ----------------------------------------------------------
    @api.model
    def _l10n_pl_ksef_request(self, company, items):
        """Ask KSeF for one identifier grouping ``items`` and store it.

        ``items``: [{"move": account.move, "ksef_number", "amount": Decimal-able,
        "currency": ISO code, "description"}]. Returns the record. Raises the core's errors
        (ksef.errors.KSeFError) or UserError (company not connected); nothing is stored then.
        """
        request = [{"ksef_number": item["ksef_number"], "amount": item["amount"],
                    "currency": item["currency"],
                    "description": (item.get("description") or "")[:ksef_collective.MAX_DESCRIPTION_LENGTH]
                    or None}
                   for item in items]
        # checked before any network call (2+ invoices, one seller, no duplicates...)
        ksef_collective.check_invoices(request)
        config = company._l10n_pl_ksef_get_config()
        with config._l10n_pl_ksef_client() as client:
            number = client.generate_collective_identifier(request)
        currencies = self.env["res.currency"].with_context(active_test=False)
        record = self.sudo().create({
            "name": number, "company_id": company.id, "direction": "outgoing",
            "line_ids": [fields.Command.create({
                "ksef_number": item["ksef_number"], "move_id": item["move"].id,
                "amount": float(item["amount"]),
                "currency_id": currencies.search([("name", "=", item["currency"])], limit=1).id,
                "description": item.get("description") or False,
            }) for item in items],
        })
        return record.sudo(False)

    # --- resolving them (bank statement lines) -------------------------------------------------
    @api.model
    def _l10n_pl_ksef_resolve(self, company, numbers):
        """{identifier: record} for ``numbers`` (valid identifiers): the stored ones as they are,
        the others asked from KSeF in one query (the core splits it into calls of 10) and
        stored. An identifier KSeF knows no invoices of is missing from the result. Raises the
        core's errors."""
        numbers = list(dict.fromkeys(numbers))
        known = self.sudo().search([("company_id", "=", company.id), ("name", "in", numbers)])
        result = {record.name: record.sudo(False) for record in known if record.line_ids}
        missing = [n for n in numbers if n not in result]
        if not missing:
            return result
        config = company._l10n_pl_ksef_get_config()
        with config._l10n_pl_ksef_client() as client:
            invoices = client.collective_identifier_invoices(missing)
        by_number = {}
        for invoice in invoices:
            by_number.setdefault(invoice.collective_identifier_number, []).append(invoice)
        moves = self.env["account.move"].sudo().search([
            ("company_id", "=", company.id),
            ("l10n_pl_ksef_number", "in", [i.ksef_number for i in invoices]),
            ("state", "=", "posted")])
        move_of = {move.l10n_pl_ksef_number: move for move in moves}
        currencies = self.env["res.currency"].with_context(active_test=False)
        for number in missing:
            lines = by_number.get(number)
            if not lines:
                continue
            record = known.filtered(lambda r, n=number: r.name == n)
            vals = [fields.Command.create({
                "ksef_number": line.ksef_number,
                "move_id": move_of.get(line.ksef_number, self.env["account.move"]).id,
                "amount": float(line.amount) if line.amount is not None else 0.0,
                "amount_known": line.amount is not None,
                "currency_id": currencies.search([("name", "=", line.currency)], limit=1).id
                if line.currency else False,
                "description": line.description or False,
            }) for line in lines]
            if record:
                record.line_ids = vals
            else:
                record = self.sudo().create({"name": number, "company_id": company.id,
                                             "direction": "incoming", "line_ids": vals})
            result[number] = record.sudo(False)
        return result

    def _l10n_pl_ksef_summary_html(self):
        """The invoices of the identifier as an HTML list (chatter messages)."""
        self.ensure_one()
        items = Markup("").join(
            Markup("<li>%s%s: %s</li>") % (
                line.ksef_number,
                Markup(" (%s)") % line.move_id.display_name if line.move_id else "",
                line._l10n_pl_ksef_amount_text())
            for line in self.line_ids)
        return Markup("<ul>%s</ul>") % items


class L10nPlKsefCollectiveLine(models.Model):
    _name = "l10n_pl_ksef.collective.line"
    _description = "Invoice of a KSeF collective identifier"
    _order = "collective_id, id"

    collective_id = fields.Many2one("l10n_pl_ksef.collective", required=True, ondelete="cascade",
                                    index=True)
    company_id = fields.Many2one(related="collective_id.company_id", store=True, index=True)
    ksef_number = fields.Char(string="KSeF number", required=True, index=True)
    move_id = fields.Many2one("account.move", string="Invoice", index="btree_not_null",
                              ondelete="set null")
    amount = fields.Float(string="Amount paid", digits=(16, 2))
    amount_known = fields.Boolean(default=True, help="False when KSeF gave no amount.")
    currency_id = fields.Many2one("res.currency")
    description = fields.Char()

    def _l10n_pl_ksef_amount_text(self):
        self.ensure_one()
        if not self.amount_known:
            return self.env._("amount not given")
        # in the reader's number format (300,00 in Polish), as Odoo shows amounts
        return "%s %s" % (formatLang(self.env, self.amount, digits=2), self.currency_id.name or "")


def failure_message(env, exc):
    """A core error (or UserError) of a collective identifier request in the user's language."""
    if isinstance(exc, UserError):
        return exc.args[0]
    message = ksef_i18n.error_message(env, exc)
    if isinstance(exc, ksef_errors.KSeFRateLimited) and exc.retry_after:
        message = env._("%(message)s KSeF asks to wait %(seconds)s s before trying again.",
                        message=message, seconds=exc.retry_after)
    return message


def escape_text(text):
    return escape(text or "")
