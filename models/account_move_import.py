"""FA(3) purchase invoices from KSeF -> draft vendor bills.

Entry point: ``account.move._l10n_pl_ksef_import_documents(company, documents)``
(called by the import cursor, see l10n_pl_ksef_import_cursor.py) with the
documents of one increment (``ksef.sync.IncomingInvoice``). Each document
becomes a DRAFT bill (never posted automatically), or a visible error record.

Mapping (extension hooks in brackets)
-------------------------------------
* vendor: by NIP, then by EU VAT number (PL + NIP); created when missing and
  flagged ``l10n_pl_ksef_created_by_import`` [``_l10n_pl_ksef_import_partner``];
* currency ``KodWaluty``; invoice date ``P_1``; vendor reference ``P_2``; due
  date from ``TerminPlatnosci``; KSeF number, acquisition date (legal receipt
  date) and hash from the KSeF metadata; paid flag from ``Platnosc/Zaplacono``;
* lines: quantity, unit price, net amount; taxes from the ``P_12`` rate code to
  the company's purchase taxes of the Polish chart [``_l10n_pl_ksef_import_tax``];
  product by the learnt vendor mapping, then the vendor's product code
  (``Indeks`` = product.supplierinfo code), GTIN (barcode), then exact name
  [``_l10n_pl_ksef_import_product``]; the expense account comes from the
  product, else from Odoo's per-vendor prediction, else the journal;
* corrections (KOR*): a refund (``in_refund``) when the correction lowers the
  amount due, a bill otherwise; linked to the corrected bill by its KSeF number;
* the original XML is attached; "KSeF visualisation" renders it readably.
"""
import copy
import json
import logging
from contextlib import contextmanager
from decimal import ROUND_HALF_UP, Decimal

import psycopg2.errors
from markupsafe import Markup
from odoo import api, fields, models
from odoo.fields import Command
from odoo.tools import SQL, float_compare, float_round

from ..ksef import errors as ksef_errors
from ..ksef.fa3.codes import BUCKET_CODE, PERCENT_CODES
from ..ksef.records import parse_naive_utc as _parse_ksef_datetime
from ..tools import ksef_i18n

_logger = logging.getLogger(__name__)

#: FA(3) P_12 code -> xml id (without the company prefix) of the l10n_pl purchase tax
PURCHASE_TAX_XMLIDS = {
    "23": "vz_kraj_23", "8": "vz_kraj_8", "5": "vz_kraj_5",
    "0 KR": "vz_kraj_0", "0 WDT": "vz_kraj_0", "0 EX": "vz_kraj_0", "zw": "vz_kraj_zw",
}
#: bills created by one create() call (see _l10n_pl_ksef_refresh_statistics)
CREATE_BATCH = 50
#: tables whose statistics the import keeps from underestimating the rows it adds
STATS_TABLES = ("account_move", "account_move_line")
#: planner estimates from which the statistics are taken as sound (no count, no ANALYZE)
STATS_SOUND_ABOVE = 200_000
#: rows beyond twice the estimate that make the statistics stale
STATS_SLACK = 200


class _ImportCache:
    """Look-ups shared by the documents of one increment."""

    def __init__(self, env, company):
        self.company = company
        self.taxes = {}
        self.currencies = {}
        self.partners = {}
        self.maps = {}
        self.products = {}
        self.accounts = {}
        self.country_pl = env.ref("base.pl", raise_if_not_found=False)


class AccountMove(models.Model):
    _inherit = "account.move"

    l10n_pl_ksef_imported = fields.Boolean(
        "Imported from KSeF", readonly=True, copy=False, index="btree_not_null")
    l10n_pl_ksef_import_run_id = fields.Many2one(
        "l10n_pl_ksef.import.run", string="KSeF import run", readonly=True, copy=False,
        index="btree_not_null", ondelete="set null")
    l10n_pl_ksef_paid = fields.Boolean(
        "Paid according to KSeF", readonly=True, copy=False,
        help="The vendor marked the invoice as paid (Platnosc/Zaplacono). Register the "
             "payment in Odoo as usual; this flag is informative.")
    l10n_pl_ksef_paid_date = fields.Date("Paid on (per invoice)", readonly=True, copy=False)
    l10n_pl_ksef_corrected_number = fields.Char(
        "Corrects KSeF number", readonly=True, copy=False, index="btree_not_null",
        help="KSeF number of the invoice this correction (KOR) corrects.")
    l10n_pl_ksef_corrected_move_id = fields.Many2one(
        "account.move", string="Corrected bill", readonly=True, copy=False,
        index="btree_not_null", ondelete="set null")
    l10n_pl_ksef_correction_ids = fields.One2many(
        "account.move", "l10n_pl_ksef_corrected_move_id", string="KSeF corrections")
    l10n_pl_ksef_import_warning = fields.Text("KSeF import notes", readonly=True, copy=False)

    _l10n_pl_ksef_number_unique = models.UniqueIndex(
        "(company_id, l10n_pl_ksef_number, move_type) WHERE l10n_pl_ksef_number IS NOT NULL",
        "This KSeF invoice is already in Odoo for this company.",
    )

    # ------------------------------------------------------------------
    # buttons
    # ------------------------------------------------------------------
    def action_l10n_pl_ksef_open_visualisation(self):
        self.ensure_one()
        # config=False: a rendering of the vendor's document, not of our company's layout
        return self.env.ref("l10n_pl_ksef.action_report_ksef_invoice_visualisation") \
            .report_action(self, config=False)

    def action_l10n_pl_ksef_import_now(self):
        """Bills list button: import the current company's purchase invoices now. Not an
        ``api.model`` method: a list header button calls it with the selected ids (none or
        some), which an ``api.model`` method would refuse as an extra argument."""
        return self.env["l10n_pl_ksef.import.cursor"].action_l10n_pl_ksef_import_now()

    def _l10n_pl_ksef_import_parsed(self):
        """The attached FA(3) XML parsed into ksef.fa3 data classes (None when absent)."""
        self.ensure_one()
        attachment = self.sudo().l10n_pl_ksef_xml_id
        if not attachment:
            return None
        from ..ksef.fa3 import parse_invoice_xml
        return parse_invoice_xml(attachment.raw)

    # ------------------------------------------------------------------
    # import of one increment
    # ------------------------------------------------------------------
    @api.model
    def _l10n_pl_ksef_import_documents(self, company, documents, run=None, responsible=None):
        """Turn KSeF documents into draft bills; returns counters (see the run log).

        The documents are first mapped one by one (parsing, vendor, products, taxes: a
        document that cannot be mapped becomes an error record), then the bills of all
        mapped documents are created together (``create(vals_list)``, attachments and
        chatter notes in batches): one by one, the creation of a bill costs several times
        more. When the batch fails (e.g. a concurrent run stored one of the invoices
        meanwhile), the bills are created again one by one, each in its own savepoint."""
        Error = self.env["l10n_pl_ksef.import.error"].sudo()
        stats = {"document_count": len(documents), "created_count": 0,
                 "duplicate_count": 0, "error_count": 0}
        numbers = [doc.ksef_number for doc in documents]
        known = set(self.sudo().with_context(active_test=False).search([
            ("company_id", "=", company.id), ("l10n_pl_ksef_number", "in", numbers),
            ("move_type", "in", ("in_invoice", "in_refund")),
        ]).mapped("l10n_pl_ksef_number"))
        # bills that came through Odoo's EDI door (account_move_edi.py) without their KSeF
        # number get it now (same file hash) and count as already in Odoo
        known |= self._l10n_pl_ksef_link_edi_bills(
            company, [doc for doc in documents if doc.ksef_number not in known])
        open_errors = {err.ksef_number: err for err in Error.search([
            ("company_id", "=", company.id), ("ksef_number", "in", numbers)])}
        cache = _ImportCache(self.env, company)
        prepared = []
        for doc in documents:
            if doc.ksef_number in known:
                stats["duplicate_count"] += 1
                continue
            known.add(doc.ksef_number)
            if doc.error or not doc.xml:
                Error._l10n_pl_ksef_record(
                    company, doc.ksef_number, "refused",
                    doc.error or self.env._("KSeF listed the invoice but its XML could not be "
                                            "downloaded. Retry later."), doc.metadata or {}, run)
                stats["error_count"] += 1
                continue
            with self._l10n_pl_ksef_import_guard(company, doc, run, stats):
                with self.env.cr.savepoint():
                    prepared.append(self._l10n_pl_ksef_prepare_bill(company, doc, cache, run))
        new_moves = self.browse()
        if prepared:
            try:
                with self.env.cr.savepoint():
                    new_moves = self._l10n_pl_ksef_create_bills(company, prepared, cache)
            except Exception:  # noqa: BLE001 - retried one by one below, errors recorded there
                _logger.info("KSeF import: batch of %s bills failed; creating them one by one",
                             len(prepared), exc_info=True)
                for item in prepared:
                    with self._l10n_pl_ksef_import_guard(company, item["doc"], run, stats):
                        with self.env.cr.savepoint():
                            new_moves |= self._l10n_pl_ksef_create_bills(company, [item], cache)
        stats["created_count"] = len(new_moves)
        for move in new_moves:
            if move.l10n_pl_ksef_number in open_errors:
                open_errors[move.l10n_pl_ksef_number].write(
                    {"state": "resolved", "move_id": move.id})
        if new_moves:
            self._l10n_pl_ksef_import_notify(new_moves, responsible)
        return stats

    @contextmanager
    def _l10n_pl_ksef_import_guard(self, company, doc, run, stats):
        """Turn a failure of one document into an error record (or a duplicate count)."""
        Error = self.env["l10n_pl_ksef.import.error"].sudo()
        metadata = doc.metadata or {}
        try:
            yield
        except psycopg2.errors.UniqueViolation:
            # stored by a concurrent run between our look-up and our insert
            stats["duplicate_count"] += 1
        except ksef_errors.XMLSecurityError as exc:
            Error._l10n_pl_ksef_record(company, doc.ksef_number, "xml",
                                       ksef_i18n.error_message(self.env, exc),
                                       metadata, run)
            stats["error_count"] += 1
        except ksef_errors.KSeFError as exc:
            Error._l10n_pl_ksef_record(company, doc.ksef_number, "invalid",
                                       ksef_i18n.error_message(self.env, exc),
                                       metadata, run)
            stats["error_count"] += 1
        except Exception as exc:  # noqa: BLE001 - one bad invoice must not block the others
            _logger.exception("KSeF import: document %s could not be mapped", doc.ksef_number)
            Error._l10n_pl_ksef_record(
                company, doc.ksef_number, "mapping",
                self.env._("The invoice could not be turned into a bill: %(error)s. Fix the cause "
                           "(e.g. a missing tax or currency) and press Retry.",
                           error=str(exc) or repr(exc)), metadata, run)
            stats["error_count"] += 1

    def _l10n_pl_ksef_import_notify(self, moves, responsible):
        """A to-do activity for the accountant on each new bill."""
        user = responsible or (self.env.user if self.env.user._is_internal()
                               and not self.env.user._is_superuser() else None)
        if not user:
            return
        moves.with_context(mail_activity_quick_update=True).activity_schedule(
            "mail.mail_activity_data_todo", user_id=user.id,
            summary=self.env._("Check the bill received from KSeF"),
            note=self.env._("A new purchase invoice arrived from KSeF as a draft bill. Check the "
                   "vendor, lines and taxes, then confirm it."))

    @api.model
    def _l10n_pl_ksef_prepare_bill(self, company, doc, cache, run=None):
        """Parse and map one document: {doc, invoice, vals, notes} (nothing created yet
        except a missing vendor)."""
        from ..ksef.fa3 import parse_incoming_invoice_xml

        # XSD-validated before anything is mapped: an invalid file becomes a visible error
        # record with KSeF's number and the reasons, never a bill
        invoice = parse_incoming_invoice_xml(doc.xml)
        vals, notes = self._l10n_pl_ksef_prepare_bill_vals(company, invoice, doc, cache)
        if run:
            vals["l10n_pl_ksef_import_run_id"] = run.id
        return {"doc": doc, "invoice": invoice, "vals": vals, "notes": notes}

    @api.model
    def _l10n_pl_ksef_create_bills(self, company, prepared, cache):
        """Create the draft bills of ``prepared`` (see _l10n_pl_ksef_prepare_bill) together,
        with their original XML attached and a chatter note each; returns the bills."""
        # create() may change the values it gets: keep ours intact for a one-by-one retry
        vals_list = [copy.deepcopy(item["vals"]) for item in prepared]
        vat_fix = [bool(vals.pop("_l10n_pl_ksef_vat_fix", False)) for vals in vals_list]
        Move = self.with_company(company).with_context(
            l10n_pl_ksef_importing=True, mail_create_nolog=True, mail_create_nosubscribe=True)
        moves = self.browse()
        for move_type in ("in_invoice", "in_refund"):
            indexes = [i for i, vals in enumerate(vals_list) if vals["move_type"] == move_type]
            for start in range(0, len(indexes), CREATE_BATCH):
                self._l10n_pl_ksef_refresh_statistics()
                created = Move.with_context(default_move_type=move_type).create(
                    [vals_list[i] for i in indexes[start:start + CREATE_BATCH]])
                moves |= created
        by_number = {move.l10n_pl_ksef_number: move for move in moves}
        moves = self.browse([by_number[item["doc"].ksef_number].id for item in prepared])
        attachments = self.env["ir.attachment"].sudo().create([{
            "name": "%s.xml" % item["doc"].ksef_number,
            "raw": item["doc"].xml,
            "mimetype": "application/xml",
            "res_model": "account.move",
            "res_id": move.id,
            "company_id": company.id,
        } for item, move in zip(prepared, moves)])
        quiet = {"l10n_pl_ksef_importing": True, "skip_invoice_sync": True,
                 "skip_is_manually_modified": True}
        vat_notes = {}
        if any(vat_fix):
            # only bills whose seller computed the VAT otherwise than Odoo will (e.g. per line):
            # the statistics first, so that the recomputations that follow plan well (issue 14)
            self._l10n_pl_ksef_refresh_statistics()
            by_move = {move.l10n_pl_ksef_number: move for move in moves}
            for item, fix in zip(prepared, vat_fix):
                if fix:
                    move = by_move[item["doc"].ksef_number]
                    vat_notes[move.id] = move._l10n_pl_ksef_set_invoice_vat(item["invoice"])
        bodies = {}
        for item, move, attachment in zip(prepared, moves, attachments):
            notes = item["notes"] + vat_notes.get(move.id, [])
            notes += self._l10n_pl_ksef_check_totals(move, item["invoice"])
            values = {"l10n_pl_ksef_xml_id": attachment.id}
            if notes:
                values["l10n_pl_ksef_import_warning"] = "\n".join(notes)
            # no journal item changes: no line re-synchronisation
            move.with_context(**quiet).write(values)
            body = Markup("<p>%s</p>") % self.env._(
                "Received from KSeF: %(number)s (invoice %(ref)s, acquired by KSeF on %(date)s).",
                number=item["doc"].ksef_number, ref=item["invoice"].number,
                date=move.l10n_pl_ksef_acquisition_date or "-")
            if notes:
                body += Markup("<ul>%s</ul>") % Markup().join(
                    Markup("<li>%s</li>") % note for note in notes)
            bodies[move.id] = body
        self._l10n_pl_ksef_link_corrections(moves)
        messages = moves._message_log_batch(bodies=bodies)
        attachment_of = {move.id: attachment for move, attachment in zip(moves, attachments)}
        for message in messages:
            message.attachment_ids = [Command.link(attachment_of[message.res_id].id)]
        return moves

    @api.model
    def _l10n_pl_ksef_refresh_statistics(self):
        """ANALYZE account_move / account_move_line when PostgreSQL believes they hold far
        fewer rows than they do, before the next bills are created.

        Creating invoices makes Odoo run queries that join account_move_line with itself and
        with account_move (the payment state of new invoices, the payments reconciled with
        them, ...). Their plans come from the tables' statistics; in a young database those
        often say "empty" (taken when the tables were, or after rows were removed), and
        then every row the import adds makes those queries slower, lines x lines x moves:
        a 500-bill import in one transaction ran for hours. So, while the planner's estimate
        is small, the import compares it with a bounded count of the rows this transaction
        sees and analyses the tables once reality exceeds twice the estimate: a handful of
        ANALYZEs per import of a young database (the estimate doubles each time), none in
        a database whose statistics are sound. ANALYZE inside the import's transaction
        counts its own new rows; it holds a lock that only VACUUM/ANALYZE and schema changes
        wait for, until the chunk commits. A database user that may not ANALYZE (not the
        owner of the tables) imports as before."""
        cr = self.env.cr
        stale = []
        for table in STATS_TABLES:
            cr.execute(SQL("EXPLAIN (FORMAT JSON) SELECT 1 FROM %s", SQL.identifier(table)))
            plan = cr.fetchone()[0]
            if isinstance(plan, str):
                plan = json.loads(plan)
            estimate = int(plan[0]["Plan"]["Plan Rows"])
            if estimate >= STATS_SOUND_ABOVE:
                continue
            bound = 2 * estimate + STATS_SLACK
            cr.execute(SQL("SELECT count(*) FROM (SELECT 1 FROM %s LIMIT %s) AS seen",
                           SQL.identifier(table), bound))
            if cr.fetchone()[0] >= bound:
                stale.append(table)
        if not stale:
            return False
        try:
            with cr.savepoint(flush=False):
                # never wait for (or deadlock with) another session that holds a conflicting
                # lock: the statistics are a help, not a need; a refusal is not an error
                cr.execute(SQL("SELECT current_setting('lock_timeout')"))
                previous = cr.fetchone()[0]
                cr.execute(SQL("SET LOCAL lock_timeout = '500ms'"))
                cr.execute(SQL("ANALYZE %s", SQL(", ").join(SQL.identifier(t) for t in stale)),
                           log_exceptions=False)
                cr.execute(SQL("SELECT set_config('lock_timeout', %s, true)", previous))
        except psycopg2.Error as exc:
            _logger.info("KSeF import: could not analyse %s (%s); importing without it",
                         ", ".join(stale), exc)
            return False
        _logger.info("KSeF import: PostgreSQL statistics of %s refreshed (they underestimated "
                     "the rows)", ", ".join(stale))
        return True

    # ------------------------------------------------------------------
    # mapping
    # ------------------------------------------------------------------
    @api.model
    def _l10n_pl_ksef_prepare_bill_vals(self, company, invoice, doc, cache):
        """(values for account.move.create, [notes for the accountant])."""
        notes = []
        metadata = doc.metadata or {}
        partner = self._l10n_pl_ksef_import_partner(company, invoice.seller, cache)
        currency = self._l10n_pl_ksef_import_currency(invoice.currency, cache)
        line_vals = self._l10n_pl_ksef_import_lines(company, invoice, partner, cache, notes)

        total = invoice.totals.p_15 if invoice.totals and invoice.totals.p_15 is not None \
            else None
        if total is None:
            total = sum((v.pop("_net") for v in line_vals), Decimal(0))
        else:
            for v in line_vals:
                v.pop("_net", None)
        move_type = "in_invoice"
        corrected_number = False
        if invoice.is_correction:
            if total < 0:
                move_type = "in_refund"
                for v in line_vals:
                    v["quantity"] = -v["quantity"]
            refs = [c.ksef_number for c in (invoice.correction.invoices if invoice.correction
                                            else []) if c.ksef_number]
            corrected_number = refs[0] if refs else False
            if len(refs) > 1:
                notes.append(self.env._("This correction concerns %(n)s invoices: %(numbers)s.",
                               n=len(refs), numbers=", ".join(refs)))
        vat_fix = self._l10n_pl_ksef_fit_lines_to_invoice(company, invoice, move_type, line_vals,
                                                          cache, notes)
        self._l10n_pl_ksef_predict_accounts(company, partner, move_type, line_vals, cache)
        vals = {
            "move_type": move_type,
            "company_id": company.id,
            "partner_id": partner.id,
            "currency_id": currency.id,
            "invoice_date": invoice.issue_date,
            "ref": invoice.number,
            "l10n_pl_ksef_number": doc.ksef_number,
            "l10n_pl_ksef_imported": True,
            "l10n_pl_ksef_corrected_number": corrected_number,
            "invoice_line_ids": [Command.create(v) for v in line_vals],
        }
        if vat_fix:
            vals["_l10n_pl_ksef_vat_fix"] = True      # taken out before create()
        acquired = _parse_ksef_datetime(metadata.get("acquisitionDate"))
        if acquired and "l10n_pl_ksef_acquisition_date" in self._fields:
            if self._fields["l10n_pl_ksef_acquisition_date"].type == "date":
                acquired = acquired.date()
            vals["l10n_pl_ksef_acquisition_date"] = acquired
        if metadata.get("invoiceHash") and "l10n_pl_ksef_invoice_hash" in self._fields:
            vals["l10n_pl_ksef_invoice_hash"] = metadata["invoiceHash"]
        payment = invoice.payment
        if payment:
            due = [t.due_date for t in payment.terms if t.due_date]
            if due and move_type == "in_invoice":
                vals["invoice_date_due"] = min(due)
            if payment.paid or payment.partial_flag == 2:
                vals["l10n_pl_ksef_paid"] = True
                dates = [p.date for p in payment.partial_payments if p.date]
                vals["l10n_pl_ksef_paid_date"] = payment.paid_date or (max(dates) if dates
                                                                      else False)
        if invoice.additional_info:
            vals["narration"] = Markup("<br/>").join(
                "%s: %s" % (info.key, info.value) for info in invoice.additional_info)
        return vals, notes

    @api.model
    def _l10n_pl_ksef_predict_accounts(self, company, partner, move_type, line_vals, cache):
        """Odoo's per-vendor expense account prediction for lines without a product or a
        learnt account, asked once per vendor and bill type in a batch instead of once per
        line (Odoo computes the lines of one create() from the same history anyway); when
        there is no prediction, Odoo's usual fallback applies."""
        lines = [v for v in line_vals if not v.get("product_id") and not v.get("account_id")]
        if not lines:
            return
        key = (partner.id, move_type)
        if key not in cache.accounts:
            cache.accounts[key] = self.env["account.account"].sudo() \
                ._get_most_frequent_account_for_partner(
                    company_id=company.id, partner_id=partner.id, move_type=move_type)
        if cache.accounts[key]:
            for values in lines:
                values["account_id"] = cache.accounts[key]

    @api.model
    def _l10n_pl_ksef_import_partner(self, company, seller, cache):
        """The vendor by NIP, then EU VAT number; created (and flagged) when missing."""
        from ..ksef.nip import normalize_nip

        nip = normalize_nip(seller.nip or "") if seller.nip else ""
        if nip in cache.partners:
            return cache.partners[nip]
        Partner = self.env["res.partner"].sudo().with_company(company)
        partner = Partner.browse()
        if nip:
            for vat in (nip, "PL" + nip):
                partner = Partner._retrieve_partner(vat=vat, company=company)
                if partner:
                    break
        if not partner:
            partner = Partner.with_context(no_vat_validation=True).create(
                self._l10n_pl_ksef_import_partner_vals(seller, nip, cache))
        partner = partner.commercial_partner_id
        cache.partners[nip] = partner
        return partner

    @api.model
    def _l10n_pl_ksef_import_partner_vals(self, seller, nip, cache):
        vals = {
            "name": seller.name or (self.env._("KSeF vendor %s", nip) if nip else self.env._("KSeF vendor")),
            "is_company": True,
            "vat": ("PL" + nip) if nip else False,
            "l10n_pl_ksef_created_by_import": True,
            "supplier_rank": 1,
        }
        address = seller.address
        country = cache.country_pl
        if address:
            if address.country and address.country != "PL":
                country = self.env["res.country"].search(
                    [("code", "=", address.country)], limit=1) or country
            vals["street"] = address.line1 or False
            if address.line2:
                parts = address.line2.split(" ", 1)
                if len(parts) == 2 and any(ch.isdigit() for ch in parts[0]):
                    vals["zip"], vals["city"] = parts
                else:
                    vals["street2"] = address.line2
        vals["country_id"] = country.id if country else False
        contacts = seller.contacts or []
        if contacts:
            vals["email"] = contacts[0].email or False
            vals["phone"] = contacts[0].phone or False
        return vals

    @api.model
    def _l10n_pl_ksef_import_currency(self, code, cache):
        code = (code or "PLN").upper()
        if code not in cache.currencies:
            currency = self.env["res.currency"].sudo().with_context(active_test=False).search(
                [("name", "=", code)], limit=1)
            if not currency:
                raise ksef_errors.InvoiceValidationError(
                    self.env._("The invoice is in currency %s, which Odoo does not know. Add the "
                      "currency, then retry.", code))
            if not currency.active:
                currency.active = True
            cache.currencies[code] = currency
        return cache.currencies[code]

    @api.model
    def _l10n_pl_ksef_import_tax(self, company, code, cache):
        """The company's purchase tax for an FA(3) ``P_12`` code (empty when none fits)."""
        if code in cache.taxes:
            return cache.taxes[code]
        Tax = self.env["account.tax"].sudo()
        tax = Tax.browse()
        xmlid = PURCHASE_TAX_XMLIDS.get(code)
        if xmlid:
            tax = self.env["account.chart.template"].with_company(company).ref(
                xmlid, raise_if_not_found=False) or Tax.browse()
            if tax and not tax.active:
                tax = Tax.browse()
        if not tax and code in PERCENT_CODES:
            tax = Tax.search([
                *Tax._check_company_domain(company), ("type_tax_use", "=", "purchase"),
                ("amount_type", "=", "percent"), ("amount", "=", PERCENT_CODES[code]),
                ("price_include", "=", False),
            ], order="sequence, id", limit=1)
        cache.taxes[code] = tax
        return tax

    @api.model
    def _l10n_pl_ksef_import_product(self, company, partner, line):
        """A product for an FA(3) line: vendor code, GTIN, then exact name."""
        Product = self.env["product.product"].sudo().with_company(company)
        if line.index:
            info = self.env["product.supplierinfo"].sudo().search([
                ("partner_id", "=", partner.id), ("product_code", "=", line.index),
                ("company_id", "in", (False, company.id)),
            ], limit=1)
            if info:
                return info.product_id or info.product_tmpl_id.product_variant_id
        if line.gtin:
            product = Product._retrieve_product(company=company, barcode=line.gtin)
            if product:
                return product
        if line.name:
            return Product.search([*Product._check_company_domain(company),
                                   ("name", "=", line.name.split("\n", 1)[0])], limit=1)
        return Product

    @api.model
    def _l10n_pl_ksef_import_lines(self, company, invoice, partner, cache, notes):
        Map = self.env["l10n_pl_ksef.import.product.map"].sudo()
        if partner.id not in cache.maps:
            cache.maps[partner.id] = Map._l10n_pl_ksef_load(company, partner)
        maps = cache.maps[partner.id]
        result = []
        qty_digits = self.env["decimal.precision"].precision_get("Product Unit")
        for position, line in enumerate(invoice.lines, 1):
            net = self._l10n_pl_ksef_line_net(line)
            if net is None:
                notes.append(self.env._("Line %(n)s (%(name)s) has no amount and was left out.",
                               n=line.number or position, name=line.name or "-"))
                continue
            sign = -1 if line.before_correction else 1
            quantity, price = self._l10n_pl_ksef_qty_price(line, net, qty_digits)
            name = line.name or self.env._("Line %s", line.number or position)
            if (quantity, price) == (1, net) and line.quantity not in (None, 1):
                name = "%s (%s %s x %s)" % (name, line.quantity, line.unit or "",
                                           line.unit_price_net or "")
            if line.before_correction:
                name = self.env._("%s (before correction)", name)
            values = {
                "name": name,
                "quantity": float(quantity) * sign,
                "price_unit": float(price),
                "l10n_pl_ksef_vendor_code": line.index or False,
                "l10n_pl_ksef_gtin": line.gtin or False,
                "l10n_pl_ksef_source_name": line.name or False,
                "_net": net * sign,
            }
            self._l10n_pl_ksef_apply_line_mapping(company, partner, line, values, maps, cache,
                                                  notes, line.number or position)
            result.append(values)
        if not result:
            result = self._l10n_pl_ksef_lines_from_totals(company, invoice, cache, notes)
        return result

    @api.model
    def _l10n_pl_ksef_apply_line_mapping(self, company, partner, line, values, maps, cache,
                                         notes, number):
        Map = self.env["l10n_pl_ksef.import.product.map"]
        keys = Map._l10n_pl_ksef_line_keys(line.index, line.gtin, line.name)
        mapping = Map._l10n_pl_ksef_find(maps, partner, keys)
        tax = self._l10n_pl_ksef_import_tax(company, line.vat_rate, cache) \
            if line.vat_rate else self.env["account.tax"]
        if line.vat_rate and not tax:
            notes.append(self.env._("Line %(n)s: no purchase tax of the company matches the VAT rate "
                           "code \"%(code)s\"; set the tax by hand.",
                           n=number, code=line.vat_rate))
        if mapping:
            mapping.sudo().used_count += 1
            if mapping.product_id:
                values["product_id"] = mapping.product_id.id
            if mapping.account_id:
                values["account_id"] = mapping.account_id.id
            if mapping.tax_ids or not tax:
                tax = mapping.tax_ids
        else:
            # the same vendor sends the same items again and again: look each up once per run
            product_key = (partner.id, line.index or "", line.gtin or "", line.name or "")
            product = cache.products.get(product_key)
            if product is None:
                product = cache.products[product_key] = self._l10n_pl_ksef_import_product(
                    company, partner, line)
            if product:
                values["product_id"] = product.id
        values["tax_ids"] = [Command.set(tax.ids)]

    @api.model
    def _l10n_pl_ksef_line_net(self, line):
        if line.net_amount is not None:
            return line.net_amount
        if line.quantity is not None and line.unit_price_net is not None:
            return (line.quantity * line.unit_price_net).quantize(Decimal("0.01"))
        if line.gross_amount is not None:
            if line.vat_amount is not None:
                return line.gross_amount - line.vat_amount
            from ..ksef.fa3.codes import RATE_PERCENT
            rate = RATE_PERCENT.get(line.vat_rate or "", Decimal(0))
            return (line.gross_amount * 100 / (100 + rate)).quantize(Decimal("0.01"))
        return None

    @api.model
    def _l10n_pl_ksef_qty_price(self, line, net, qty_digits):
        """(quantity, unit price) whose product is exactly the line's net amount."""
        quantity = line.quantity
        if not quantity:
            return Decimal(1), net
        if Decimal(str(float_round(float(quantity), precision_digits=qty_digits))) != quantity:
            return Decimal(1), net
        price = line.unit_price_net
        if price is not None and (quantity * price).quantize(Decimal("0.01")) == net:
            return quantity, price
        return quantity, net / quantity

    @api.model
    def _l10n_pl_ksef_lines_from_totals(self, company, invoice, cache, notes):
        """One line per VAT bucket when the invoice has no usable lines (e.g. advances)."""
        labels = ksef_i18n.bucket_labels(self.env)
        lines = []
        buckets = invoice.totals.by_bucket() if invoice.totals else {}
        for bucket, (net, _vat, _vat_pln) in buckets.items():
            if not net:
                continue
            code = BUCKET_CODE.get(bucket)
            tax = self._l10n_pl_ksef_import_tax(company, code, cache) if code else \
                self.env["account.tax"]
            lines.append({
                "name": self.env._("%(kind)s invoice %(number)s: %(label)s",
                          kind=invoice.kind, number=invoice.number,
                          label=labels.get(bucket, bucket)),
                "quantity": 1.0,
                "price_unit": float(net),
                "tax_ids": [Command.set(tax.ids)],
                "_net": net,
            })
        if lines:
            notes.append(self.env._("The invoice has no lines to import; the bill was built from its "
                           "VAT totals per rate."))
        elif invoice.totals and invoice.totals.p_15:
            lines.append({"name": self.env._("Invoice %s", invoice.number), "quantity": 1.0,
                          "price_unit": float(invoice.totals.p_15),
                          "tax_ids": [Command.set([])], "_net": invoice.totals.p_15})
            notes.append(self.env._("The invoice has neither lines nor VAT totals; the bill has one "
                           "line with its total amount and no tax. Check it."))
        return lines

    # --- the bill equals the invoice: net and VAT per rate, VAT in PLN, amount due -----------
    #: larger differences mean a wrong tax or line, not rounding: they are left for the
    #: accountant (with a note), never forced
    MATCH_TOLERANCE_PER_LINE = Decimal("0.01")
    MATCH_TOLERANCE_MIN = Decimal("0.05")

    def _l10n_pl_ksef_booked_by_bucket(self):
        """{bucket: [net, vat, vat_pln, product lines, tax lines]} of this draft bill, in the
        FA(3)'s signs: a bill's amounts in currency are the invoice's as they are, a refund
        (made only of a correction whose total is negative) has them negative as well."""
        from ..ksef.fa3.codes import RATE_BUCKET

        Move = self.env["account.move"]
        out = {}

        def dec(value):
            return Decimal(repr(round(value, 2)))
        for line in self.line_ids:
            if line.display_type == "product":
                taxes = line.tax_ids.flatten_taxes_hierarchy()
                code = Move._l10n_pl_ksef_get_vat_code(taxes) if len(taxes) == 1 else None
                bucket = RATE_BUCKET.get(code)
                if bucket:
                    slot = out.setdefault(bucket, [Decimal(0), Decimal(0), Decimal(0), [], []])
                    slot[0] += dec(line.amount_currency)
                    slot[3].append(line)
            elif line.display_type == "tax" and line.tax_line_id:
                bucket = RATE_BUCKET.get(Move._l10n_pl_ksef_get_vat_code(line.tax_line_id))
                if bucket:
                    slot = out.setdefault(bucket, [Decimal(0), Decimal(0), Decimal(0), [], []])
                    slot[1] += dec(line.amount_currency)
                    slot[2] += dec(line.balance)
                    slot[4].append(line)
        return out

    @api.model
    def _l10n_pl_ksef_fit_lines_to_invoice(self, company, invoice, move_type, line_vals, cache,
                                           notes):
        """Before the bill is created, without touching the database: make its lines give the
        invoice's net per rate P_13_x (a rounding difference goes to the rate's largest line)
        and its amount due P_15 (a grosz by which the invoice's own P_15 differs from net + VAT,
        as in the ministry's sample 1, becomes an untaxed rounding line). Returns True when the
        VAT Odoo will compute differs from P_14_x (a seller rounding per line): the bill's VAT
        is then set after creation (``_l10n_pl_ksef_set_invoice_vat``)."""
        from ..ksef.fa3.codes import RATE_BUCKET

        totals = invoice.totals
        if not totals or invoice.kind not in ("VAT", "KOR", "UPR") or not line_vals:
            return False
        wanted = totals.by_bucket()
        labels = ksef_i18n.bucket_labels(self.env)
        mt = 1 if move_type == "in_invoice" else -1      # a refund's FA(3) amounts are negative
        taxes_of = {}
        by_bucket = {}
        for values in line_vals:
            tax_ids = next((cmd[2] for cmd in values.get("tax_ids") or [] if cmd[0] == 6), [])
            taxes = self.env["account.tax"].browse(tax_ids)
            if len(taxes) != 1 or taxes.amount_type != "percent" or taxes.price_include:
                continue
            bucket = RATE_BUCKET.get(self._l10n_pl_ksef_get_vat_code(taxes))
            if bucket is None or bucket not in wanted:
                continue
            taxes_of[id(values)] = taxes
            by_bucket.setdefault(bucket, []).append(values)

        def line_net(values):     # the line's net as Odoo will book it, in the FA(3)'s sign
            raw = Decimal(repr(values["quantity"])) * Decimal(repr(values["price_unit"]))
            return raw.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) * mt

        def limit(lines):
            return max(self.MATCH_TOLERANCE_MIN, self.MATCH_TOLERANCE_PER_LINE * len(lines))
        for bucket, lines in by_bucket.items():
            net = wanted[bucket][0]
            delta = net - sum((line_net(values) for values in lines), Decimal(0))
            if not delta or abs(delta) > limit(lines):
                continue
            largest = max(lines, key=lambda values: abs(line_net(values)))
            subtotal = line_net(largest) * mt + delta * mt
            if largest["quantity"] not in (1.0, -1.0):
                largest["name"] = "%s (%s x %s)" % (largest["name"], largest["quantity"],
                                                   largest["price_unit"])
            largest.update({"quantity": 1.0, "price_unit": float(subtotal)})
            notes.append(self.env._(
                "The net of line \"%(line)s\" was set to %(net)s so that the net of the %(rate)s "
                "equals the invoice's (%(total)s).", line=largest["name"], net=subtotal,
                rate=labels.get(bucket, bucket), total=net))
        if totals.p_15 is not None and all(bucket in by_bucket for bucket in wanted):
            delta = totals.p_15 - sum((n + (v or 0) for n, v, _w in wanted.values()), Decimal(0))
            if delta and abs(delta) <= self.MATCH_TOLERANCE_MIN:
                line_vals.append({
                    "name": self.env._("Rounding difference of the invoice (amount due %(due)s, "
                                       "net + VAT %(sum)s)", due=totals.p_15,
                                       sum=totals.p_15 - delta),
                    "quantity": 1.0, "price_unit": float(delta * mt),
                    "tax_ids": [Command.set([])]})
                notes.append(self.env._(
                    "The invoice's amount due (%(due)s) differs from its net + VAT by %(delta)s; "
                    "the difference is an untaxed rounding line.", due=totals.p_15, delta=delta))
        # the VAT Odoo will compute, per rate
        per_line = company.tax_calculation_rounding_method == "round_per_line"
        for bucket, lines in by_bucket.items():
            vat = wanted[bucket][1]
            if vat is None:
                continue
            per_tax = {}
            for values in lines:
                per_tax.setdefault(taxes_of[id(values)], []).append(line_net(values))
            predicted = Decimal(0)
            for tax, nets in per_tax.items():
                rate = Decimal(repr(tax.amount)) / 100
                if per_line:
                    predicted += sum(((n * rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
                                      for n in nets), Decimal(0))
                else:
                    predicted += (sum(nets, Decimal(0)) * rate).quantize(
                        Decimal("0.01"), rounding=ROUND_HALF_UP)
            if predicted != vat or wanted[bucket][2] is not None:
                return True
        return bool(set(wanted) - set(by_bucket))

    def _l10n_pl_ksef_set_invoice_vat(self, invoice):
        """The draft bill's VAT per rate becomes the invoice's P_14_x (in PLN P_14_xW) where Odoo
        computed it otherwise, on the rate's largest tax line, as the totals widget does.
        Differences beyond rounding (a wrong rate) are not forced. Returns notes."""
        self.ensure_one()
        totals = invoice.totals
        if not totals or self.state != "draft":
            return []
        wanted = totals.by_bucket()
        booked = self._l10n_pl_ksef_booked_by_bucket()
        labels = ksef_i18n.bucket_labels(self.env)
        foreign = self.currency_id != self.company_id.currency_id
        notes, changes = [], []
        for bucket, (_net, vat, vat_pln) in wanted.items():
            if vat is None or bucket not in booked or not booked[bucket][4]:
                continue
            delta = vat - booked[bucket][1]
            if foreign:
                delta_pln = vat_pln - booked[bucket][2] if vat_pln is not None else Decimal(0)
            else:
                delta_pln = delta
            if not delta and not delta_pln:
                continue
            if abs(delta) > max(self.MATCH_TOLERANCE_MIN,
                                self.MATCH_TOLERANCE_PER_LINE * len(booked[bucket][3])):
                notes.append(self.env._(
                    "The VAT of the %(rate)s computed by Odoo (%(odoo)s) differs from the "
                    "invoice's (%(ksef)s) by more than rounding: check the tax of the lines.",
                    rate=labels.get(bucket, bucket), odoo=booked[bucket][1], ksef=vat))
                continue
            line = max(booked[bucket][4], key=lambda aml: abs(aml.amount_currency))
            changes.append((line, float(delta), float(delta_pln)))
            if delta:
                notes.append(self.env._(
                    "VAT of the %(rate)s as on the invoice: %(ksef)s (Odoo computed %(odoo)s).",
                    rate=labels.get(bucket, bucket), ksef=vat, odoo=booked[bucket][1]))
        if changes:
            with self._sync_dynamic_line(
                    existing_key_fname="term_key", needed_vals_fname="needed_terms",
                    needed_dirty_fname="needed_terms_dirty", line_type="payment_term",
                    container={"records": self}):
                for line, delta, delta_pln in changes:
                    balance = self.company_id.currency_id.round(line.balance + delta_pln)
                    # in PLN the balance follows the amount (_inverse_amount_currency); in a
                    # foreign currency it is the invoice's VAT in PLN, set after it
                    line.amount_currency = self.currency_id.round(line.amount_currency + delta)
                    if foreign:
                        line.balance = balance
            self._compute_amount()
        return notes

    @api.model
    def _l10n_pl_ksef_check_totals(self, move, invoice):
        """Notes when the bill's total differs from the invoice's P_15."""
        if invoice.kind not in ("VAT", "KOR", "UPR") or not invoice.totals or \
                invoice.totals.p_15 is None:
            return []
        expected = abs(float(invoice.totals.p_15))
        if float_compare(abs(move.amount_total), expected,
                         precision_rounding=move.currency_id.rounding) == 0:
            return []
        return [self.env._("The bill's total %(odoo)s differs from the invoice's amount due %(ksef)s "
                  "(P_15): check the taxes and lines before confirming.",
                  odoo=move.amount_total, ksef=invoice.totals.p_15)]

    @api.model
    def _l10n_pl_ksef_link_corrections(self, moves):
        """Link corrections to their originals and originals to corrections that came first
        (``moves``: bills just imported, one or many)."""
        # only the links change, never a journal item: no line re-synchronisation
        quiet = {"l10n_pl_ksef_importing": True, "skip_invoice_sync": True,
                 "skip_is_manually_modified": True}
        Move = self.sudo().with_context(**quiet)
        moves = moves.sudo().with_context(**quiet)
        types = ("in_invoice", "in_refund")

        def link(correction, original):
            values = {"l10n_pl_ksef_corrected_move_id": original.id}
            if correction.move_type == "in_refund" and original.move_type == "in_invoice":
                values["reversed_entry_id"] = original.id
            correction.write(values)

        corrections = moves.filtered(lambda m: m.l10n_pl_ksef_corrected_number
                                     and not m.l10n_pl_ksef_corrected_move_id)
        if corrections:
            originals = {}
            for original in Move.search([
                    ("company_id", "in", corrections.company_id.ids),
                    ("l10n_pl_ksef_number", "in", corrections.mapped(
                        "l10n_pl_ksef_corrected_number")),
                    ("move_type", "in", types)]):
                originals.setdefault((original.company_id.id, original.l10n_pl_ksef_number),
                                     original)
            for correction in corrections:
                original = originals.get((correction.company_id.id,
                                          correction.l10n_pl_ksef_corrected_number))
                if original:
                    link(correction, original)
        numbered = moves.filtered("l10n_pl_ksef_number")
        if numbered:
            by_number = {(m.company_id.id, m.l10n_pl_ksef_number): m for m in numbered}
            for correction in Move.search([
                    ("company_id", "in", numbered.company_id.ids),
                    ("l10n_pl_ksef_corrected_number", "in", numbered.mapped(
                        "l10n_pl_ksef_number")),
                    ("l10n_pl_ksef_corrected_move_id", "=", False)]):
                original = by_number.get((correction.company_id.id,
                                          correction.l10n_pl_ksef_corrected_number))
                if original:
                    link(correction, original)


class AccountMoveLine(models.Model):
    _inherit = "account.move.line"

    l10n_pl_ksef_vendor_code = fields.Char("Vendor product code (KSeF)", copy=False)
    l10n_pl_ksef_gtin = fields.Char("GTIN (KSeF)", copy=False)
    l10n_pl_ksef_source_name = fields.Char("Description on the KSeF invoice", copy=False)

    def write(self, vals):
        res = super().write(vals)
        if not self.env.context.get("l10n_pl_ksef_importing") and \
                {"product_id", "account_id", "tax_ids"} & set(vals):
            lines = self.filtered(
                lambda line: line.display_type == "product"
                and line.move_id.l10n_pl_ksef_imported
                and (line.l10n_pl_ksef_vendor_code or line.l10n_pl_ksef_gtin
                     or line.l10n_pl_ksef_source_name))
            if lines:
                self.env["l10n_pl_ksef.import.product.map"].sudo()._l10n_pl_ksef_learn(lines)
        return res


class AccountJournal(models.Model):
    _inherit = "account.journal"

    def action_l10n_pl_ksef_import_now(self):
        """Purchase journal dashboard link: import the journal company's invoices now."""
        company = self[:1].company_id or self.env.company
        return self.env["l10n_pl_ksef.import.cursor"].with_company(company) \
            .action_l10n_pl_ksef_import_now()
