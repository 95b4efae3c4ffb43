"""Payments with KSeF numbers (VAT act art. 108g, payments from 1 January 2027).

An active VAT payer paying a KSeF invoice of another active VAT payer by bank transfer puts the
invoice's KSeF number in the transfer title, or the collective identifier (identyfikator
zbiorczy) KSeF gave to the invoices paid together. What this file owns:

* the company settings (on ``l10n_pl_ksef.config``): the memo of a single bill ("KSeF number"
  or "KSeF number + vendor's invoice number") and the KSeF number as the payment reference of
  our own accepted invoices;
* ``account.move._l10n_pl_ksef_payment_memo()`` and ``_l10n_pl_ksef_payment_exception()``:
  what a transfer paying a bill carries, and why there is no KSeF number (the act's exceptions:
  a VAT-exempt seller, an invoice issued outside KSeF in an outage, a foreign seller, a
  consumer's document);
* the KSeF fields of ``account.payment`` (memo kind, collective identifier, why no number).

The register-payment wizard (``wizards/account_payment_register.py``), the collective
identifier records (``l10n_pl_ksef_collective.py``), the statement matching
(``account_bank_statement_line.py``) and the OCA payment orders (``account_payment_order.py``)
build on these.
"""
import re

from markupsafe import Markup
from odoo import api, fields, models

#: a Polish transfer title (Elixir "tytuł przelewu": 4 x 35 characters)
TRANSFER_TITLE_LENGTH = 140
MEMO_FORMATS = [
    ("number", "KSeF number"),
    ("number_ref", "KSeF number + vendor's invoice number"),
]
#: KSeF numbers (35 characters) and collective identifiers inside a text (a bank label)
KSEF_NUMBER_RE = re.compile(r"(?<![0-9A-Za-z])\d{10}-\d{8}-[0-9A-Fa-f]{12}-[0-9A-Fa-f]{2}(?![0-9A-Za-z])")
COLLECTIVE_RE = re.compile(r"(?<![0-9A-Za-z])\d{10}-IZ\d{6}-[0-9A-Fa-f]{12}-[0-9A-Fa-f]{2}(?![0-9A-Za-z])",
                           re.IGNORECASE)
MEMO_KINDS = [
    ("number", "KSeF number"),
    ("collective", "KSeF collective identifier"),
    ("exception", "No KSeF number (exception)"),
]


def fit_title(*parts):
    """Join the non-empty parts with a space within the 140 characters of a transfer title;
    the first part (the KSeF number or identifier) is never cut."""
    parts = [p.strip() for p in parts if p and p.strip()]
    if not parts:
        return ""
    title = parts[0][:TRANSFER_TITLE_LENGTH]
    for part in parts[1:]:
        room = TRANSFER_TITLE_LENGTH - len(title) - 1
        if room <= 0:
            break
        title = "%s %s" % (title, part[:room])
    return title


class L10nPlKsefConfig(models.Model):
    _inherit = "l10n_pl_ksef.config"

    payment_memo = fields.Selection(
        MEMO_FORMATS, string="Memo of a payment of one bill", default="number", required=True,
        help="What the transfer title of a payment of one KSeF vendor bill says (VAT act art. "
             "108g): the bill's KSeF number alone, or followed by the vendor's invoice number, "
             "within the 140 characters of a Polish transfer title. A payment of several bills "
             "of one vendor carries the collective identifier KSeF gives to them.")
    invoice_payment_reference = fields.Boolean(
        string="KSeF number as payment reference of our invoices", default=True,
        help="Once KSeF accepts a customer invoice, its KSeF number becomes the invoice's "
             "payment reference (\"Payment Communication\" on the PDF): the buyer puts it in the "
             "transfer title, as the VAT act asks from 2027, and Odoo finds the invoice again "
             "when the payment reaches the bank statement.")


class ResCompany(models.Model):
    _inherit = "res.company"

    def _l10n_pl_ksef_payment_memo_format(self):
        self.ensure_one()
        config = self.sudo().l10n_pl_ksef_config_id
        return (config.payment_memo if config else None) or "number"

    def _l10n_pl_ksef_invoice_payment_reference(self):
        self.ensure_one()
        config = self.sudo().l10n_pl_ksef_config_id
        return bool(config.invoice_payment_reference) if config else True


class ResPartner(models.Model):
    _inherit = "res.partner"

    l10n_pl_ksef_vat_exempt = fields.Boolean(
        string="VAT-exempt seller (no KSeF number in payments)",
        help="The vendor is exempt from VAT (e.g. art. 113 of the VAT act): the duty to put the "
             "KSeF number in the transfer title (art. 108g) does not apply to payments to it, "
             "and its payments keep Odoo's usual memo.")


class AccountMove(models.Model):
    _inherit = "account.move"

    def _l10n_pl_ksef_payment_exception(self):
        """Why a payment of this bill carries no KSeF number (translated text), or False when
        it must carry ``l10n_pl_ksef_number``."""
        self.ensure_one()
        _ = self.env._
        partner = self.commercial_partner_id
        if partner.l10n_pl_ksef_vat_exempt:
            return _("%(vendor)s is a VAT-exempt seller: the KSeF number is not required in "
                     "payments to it (VAT act art. 108g).", vendor=partner.display_name)
        if self.l10n_pl_ksef_number:
            return False
        if partner.country_id and partner.country_id.code != "PL":
            return _("%(bill)s: %(vendor)s is a foreign seller; its invoices are not issued in "
                     "KSeF and have no KSeF number.", bill=self.display_name,
                     vendor=partner.display_name)
        if not partner.vat or not partner.is_company:
            return _("%(bill)s: %(vendor)s has no NIP (a consumer's or another document issued "
                     "outside KSeF); it has no KSeF number.", bill=self.display_name,
                     vendor=partner.display_name)
        return _("%(bill)s has no KSeF number: it was issued outside KSeF (e.g. during a KSeF "
                 "outage, sent to KSeF later) or has not been imported from KSeF yet. Import it "
                 "from KSeF to pay it with its KSeF number.", bill=self.display_name)

    def _l10n_pl_ksef_vendor_reference(self):
        self.ensure_one()
        return self.ref or (self.payment_reference if self.payment_reference != self.name else "") \
            or ""

    def _l10n_pl_ksef_payment_memo(self):
        """The transfer title of a payment of this one bill (with its KSeF number)."""
        self.ensure_one()
        if self.company_id._l10n_pl_ksef_payment_memo_format() == "number_ref":
            return fit_title(self.l10n_pl_ksef_number, self._l10n_pl_ksef_vendor_reference())
        return self.l10n_pl_ksef_number

    def _l10n_pl_ksef_paid_with_memo(self):
        """Bills (vendor side) whose payments follow art. 108g."""
        return self.filtered(lambda m: m.is_purchase_document(include_receipts=True))

    def _l10n_pl_ksef_payment_plan(self):
        """How one payment of these moves follows art. 108g, or None when it does not apply
        (not only vendor bills). A dict: ``kind`` ("number" | "collective" | "exception"),
        ``numbered`` (bills paid with their KSeF number), ``others`` (bills without one),
        ``notes`` (why, per bill)."""
        bills = self._l10n_pl_ksef_paid_with_memo()
        if not bills or bills != self:
            return None
        numbered = bills.filtered(lambda m: not m._l10n_pl_ksef_payment_exception())
        others = bills - numbered
        notes = [m._l10n_pl_ksef_payment_exception() for m in others]
        if not numbered:
            kind = "exception"
        elif len(numbered) == 1:
            kind = "number"
        else:
            kind = "collective"
        return {"kind": kind, "numbered": numbered, "others": others, "notes": notes}

    # --- OCA account_payment_order (when installed): each transfer's remittance information ----
    def _get_payment_order_communication_direct(self):
        """account_payment_order takes a payment line's communication from here: a KSeF bill
        is paid with its KSeF number (the remittance information of the bank file)."""
        if len(self) == 1 and self.is_purchase_document(include_receipts=True) \
                and self.l10n_pl_ksef_number and not self._l10n_pl_ksef_payment_exception():
            return self._l10n_pl_ksef_payment_memo()
        return super()._get_payment_order_communication_direct()

    # --- our own invoices: the KSeF number as payment reference --------------------------------
    def _l10n_pl_ksef_apply_status(self, status, upo=None, log=True):
        result = super()._l10n_pl_ksef_apply_status(status, upo=upo, log=log)
        if result == "accepted":
            self._l10n_pl_ksef_set_payment_reference()
        return result

    def _l10n_pl_ksef_set_payment_reference(self):
        for move in self:
            if (move.move_type != "out_invoice" or not move.l10n_pl_ksef_number
                    or move.payment_reference == move.l10n_pl_ksef_number
                    or not move.company_id._l10n_pl_ksef_invoice_payment_reference()):
                continue
            previous = move.payment_reference
            move.payment_reference = move.l10n_pl_ksef_number
            move._message_log(body=Markup("%s <b>%s</b>") % (
                move.env._("Payment reference for the buyer (KSeF number, VAT act art. 108g):"),
                move.l10n_pl_ksef_number) + (Markup(" (%s)") % move.env._(
                    "was %(previous)s", previous=previous) if previous else ""))


class AccountPayment(models.Model):
    _inherit = "account.payment"

    l10n_pl_ksef_memo_kind = fields.Selection(
        MEMO_KINDS, string="KSeF in the memo", readonly=True, copy=False, tracking=True,
        help="What the transfer title carries under VAT act art. 108g.")
    l10n_pl_ksef_collective_id = fields.Many2one(
        "l10n_pl_ksef.collective", string="KSeF collective identifier record", readonly=True,
        copy=False, index="btree_not_null", ondelete="restrict")
    l10n_pl_ksef_collective_number = fields.Char(
        string="KSeF collective identifier", readonly=True, copy=False, index="btree_not_null",
        tracking=True,
        help="The number KSeF gave to the bills this one transfer pays (identyfikator zbiorczy); "
             "it is the payment's memo.")
    l10n_pl_ksef_numbers = fields.Char(
        string="KSeF numbers paid", readonly=True, copy=False,
        help="The KSeF numbers of the bills this payment pays.")
    l10n_pl_ksef_memo_note = fields.Text(
        string="Why no KSeF number", readonly=True, copy=False,
        help="The exception of the VAT act that applies to the bills paid without a KSeF "
             "number.")

    @api.model
    def _l10n_pl_ksef_memo_in(self, text):
        """(KSeF numbers, collective identifiers) found in a text, in order, upper-case."""
        text = text or ""
        numbers = list(dict.fromkeys(m.upper() for m in KSEF_NUMBER_RE.findall(text)))
        identifiers = list(dict.fromkeys(m.upper() for m in COLLECTIVE_RE.findall(text)))
        return numbers, identifiers


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    l10n_pl_ksef_payment_memo = fields.Selection(
        related="company_id.l10n_pl_ksef_config_id.payment_memo", readonly=False,
        string="Memo of a payment of one bill")
    l10n_pl_ksef_invoice_payment_reference = fields.Boolean(
        related="company_id.l10n_pl_ksef_config_id.invoice_payment_reference", readonly=False,
        string="KSeF number as payment reference of our invoices")
