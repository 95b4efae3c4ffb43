"""FA(3) files through Odoo's own EDI door (Upload on the bills list, a file posted on a bill,
the purchase journal's mail alias).

Odoo 19 turns attachments into bills with ``account.document.import.mixin``: each file gets
an ``xml_tree`` (``_get_xml_tree``) and an ``import_file_type`` (``_get_import_file_type``),
and the decoder of highest priority (``_get_edi_decoder``) fills the (empty) bill. Ours
recognises an FA(3) file by its namespace and fills the bill with the same mapping as the KSeF
import (``_l10n_pl_ksef_prepare_bill_vals`` in account_move_import.py): XSD validation and the
hostile-XML parser ``ksef/xmlsafe.py`` first, then the same vendor, lines, taxes and
visualisation. A file that cannot be read leaves the bill empty with the reason in its chatter.

No duplicate with the KSeF import: the bill keeps the KSeF number when the file name carries it
(``<KSeF number>.xml``, as KSeF and our import name the files) and always the SHA-256 of the
file (Base64, as KSeF's ``invoiceHash``); the KSeF import then finds the bill by number or by
hash and attaches its KSeF number to it instead of creating a second one
(``_l10n_pl_ksef_import_documents``).
"""
import base64
import hashlib
import re

from markupsafe import Markup
from odoo import api, models

from ..ksef import errors as ksef_errors
from ..ksef import nip as ksef_nip
from ..ksef.fa3.codes import MAX_INVOICE_BYTES_WITH_ATTACHMENT
from ..ksef.fa3.codes import NS as FA3_NS
from ..ksef.ksef_number import is_valid_ksef_number
from ..ksef.sync import IncomingInvoice
from ..tools import ksef_i18n

#: Odoo import_file_type of an FA(3) file
FA3_FILE_TYPE = "l10n_pl_ksef.fa3"
#: above UBL/CII (10) and next to l10n_it_edi (20): an FA(3) file is ours
FA3_DECODER_PRIORITY = 30
#: KSeF numbers: NIP-YYYYMMDD-12 hex-2 hex (checked with the CRC below)
KSEF_NUMBER_IN_NAME = re.compile(r"(\d{10}-\d{8}-[0-9A-Fa-f]{12}-[0-9A-Fa-f]{2})")
#: how far into the file the FA(3) namespace is looked for
SNIFF_BYTES = 4096


def fa3_file_hash(raw):
    """SHA-256 of the file, Base64, the form of KSeF's ``invoiceHash``."""
    return base64.b64encode(hashlib.sha256(raw).digest()).decode()


def ksef_number_from_name(name):
    """The KSeF number in a file name (``<KSeF number>.xml``), or None."""
    match = KSEF_NUMBER_IN_NAME.search(name or "")
    if match and is_valid_ksef_number(match.group(1).upper()):
        return match.group(1).upper()
    return None


class AccountMove(models.Model):
    _inherit = "account.move"

    @api.model
    def _l10n_pl_ksef_is_fa3_file(self, file_data):
        raw = file_data.get("raw") or b""
        name = file_data.get("name") or ""
        mimetype = file_data.get("mimetype") or ""
        looks_xml = (name.lower().endswith(".xml") or mimetype.endswith("/xml")
                     or "text/plain" in mimetype or raw[:5] == b"<?xml")
        return looks_xml and FA3_NS.encode() in raw[:SNIFF_BYTES]

    @api.model
    def _get_xml_tree(self, file_data):
        # EXTENDS 'account': an FA(3) file is parsed by the hostile-XML parser of the core only
        if self._l10n_pl_ksef_is_fa3_file(file_data):
            from ..ksef import xmlsafe
            try:
                return xmlsafe.parse(file_data["raw"],
                                     max_bytes=MAX_INVOICE_BYTES_WITH_ATTACHMENT)
            except ksef_errors.KSeFError:
                return None      # the decoder says why
        return super()._get_xml_tree(file_data)

    @api.model
    def _get_import_file_type(self, file_data):
        # EXTENDS 'account'
        if self._l10n_pl_ksef_is_fa3_file(file_data):
            return FA3_FILE_TYPE
        return super()._get_import_file_type(file_data)

    def _get_edi_decoder(self, file_data, new=False):
        # EXTENDS 'account'
        if file_data.get("import_file_type") == FA3_FILE_TYPE:
            def decoder(invoice, file_data, new=False):
                return invoice._l10n_pl_ksef_decode_fa3(file_data, new)
            return {"priority": FA3_DECODER_PRIORITY, "decoder": decoder}
        return super()._get_edi_decoder(file_data, new)

    def _l10n_pl_ksef_decode_fa3(self, file_data, new):
        """Fill this empty draft bill from an FA(3) file; returns None, or why it was not."""
        self.ensure_one()
        _ = self.env._
        company = self.company_id
        if self.state != "draft" or self.invoice_line_ids:
            return _("an FA(3) file fills a new, empty draft bill. Upload it on the vendor bills "
                     "list, or remove the lines of this draft first.")
        if not self.is_purchase_document(include_receipts=False):
            return _("an FA(3) file received from a vendor becomes a vendor bill. Upload it on "
                     "the vendor bills list.")
        raw = file_data["raw"] or b""
        number = ksef_number_from_name(file_data.get("name"))
        file_hash = fa3_file_hash(raw)
        domain = [("company_id", "=", company.id), ("id", "!=", self.id),
                  ("move_type", "in", ("in_invoice", "in_refund"))]
        existing = self.sudo().with_context(active_test=False).search(
            domain + (["|", ("l10n_pl_ksef_number", "=", number)] if number else [])
            + [("l10n_pl_ksef_invoice_hash", "=", file_hash)], limit=1)
        if existing:
            if number and existing.l10n_pl_ksef_number == number:
                return _("this invoice is already in Odoo as %(bill)s (same KSeF number). "
                         "Nothing was created; delete this empty draft.",
                         bill=existing.display_name)
            return _("this invoice is already in Odoo as %(bill)s (same file). Nothing was "
                     "created; delete this empty draft.", bill=existing.display_name)
        from ..ksef.fa3 import parse_incoming_invoice_xml
        try:
            invoice = parse_incoming_invoice_xml(raw)
        except ksef_errors.KSeFError as exc:
            return _("the file is not a valid FA(3) invoice: %(reason)s",
                     reason=ksef_i18n.error_message(self.env, exc))
        company_nip = ksef_nip.normalize_nip(company.vat) if company.vat else None
        buyer_nip = invoice.buyer.nip if invoice.buyer else None
        if company_nip and buyer_nip and ksef_nip.normalize_nip(buyer_nip) != company_nip:
            return _("the invoice is addressed to NIP %(buyer)s, not to %(company)s (NIP "
                     "%(nip)s). Upload it in the company it is addressed to.",
                     buyer=buyer_nip, company=company.name, nip=company_nip)

        from .account_move_import import _ImportCache
        cache = _ImportCache(self.env, company)
        doc = IncomingInvoice(ksef_number=number, metadata={"invoiceHash": file_hash}, xml=raw)
        vals, notes = self._l10n_pl_ksef_prepare_bill_vals(company, invoice, doc, cache)
        vat_fix = vals.pop("_l10n_pl_ksef_vat_fix", False)
        vals.pop("company_id", None)
        vals["l10n_pl_ksef_number"] = number or False
        vals["l10n_pl_ksef_invoice_hash"] = file_hash
        move = self.with_company(company).with_context(l10n_pl_ksef_importing=True)
        move.write(vals)
        if vat_fix:
            notes += move._l10n_pl_ksef_set_invoice_vat(invoice)
        notes += self._l10n_pl_ksef_check_totals(move, invoice)
        attachment = file_data.get("attachment")
        if not attachment:
            attachment = self.env["ir.attachment"].sudo().create({
                "name": file_data.get("name") or "%s.xml" % (number or "FA3"),
                "raw": raw, "mimetype": "application/xml", "res_model": "account.move",
                "res_id": self.id, "company_id": company.id})
        values = {"l10n_pl_ksef_xml_id": attachment.id}
        if notes:
            values["l10n_pl_ksef_import_warning"] = "\n".join(notes)
        move.with_context(skip_invoice_sync=True, skip_is_manually_modified=True).write(values)
        self._l10n_pl_ksef_link_corrections(self)
        body = Markup("<p>%s</p>") % (
            _("FA(3) file %(file)s read as invoice %(ref)s, KSeF number %(number)s.",
              file=file_data.get("name"), ref=invoice.number, number=number)
            if number else
            _("FA(3) file %(file)s read as invoice %(ref)s. Its KSeF number is not known yet: "
              "the KSeF import will add it to this bill (matched by the file's SHA-256).",
              file=file_data.get("name"), ref=invoice.number))
        if notes:
            body += Markup("<ul>%s</ul>") % Markup().join(
                Markup("<li>%s</li>") % note for note in notes)
        self.message_post(body=body)
        return None

    @api.model
    def _l10n_pl_ksef_link_edi_bills(self, company, documents):
        """Bills that came through the EDI door without a KSeF number, matched by the file's
        SHA-256 to ``documents`` of a KSeF import: they get their KSeF number and acquisition
        date. Returns the KSeF numbers so linked (the import creates no bill for them)."""
        by_hash = {}
        for doc in documents:
            file_hash = (doc.metadata or {}).get("invoiceHash")
            if doc.xml and not file_hash:
                file_hash = fa3_file_hash(doc.xml)
            if file_hash:
                by_hash.setdefault(file_hash, doc)
        if not by_hash:
            return set()
        bills = self.sudo().with_context(active_test=False).search([
            ("company_id", "=", company.id), ("l10n_pl_ksef_number", "=", False),
            ("l10n_pl_ksef_invoice_hash", "in", list(by_hash)),
            ("move_type", "in", ("in_invoice", "in_refund")),
        ])
        from ..ksef.records import parse_naive_utc
        linked = set()
        for bill in bills:
            doc = by_hash.get(bill.l10n_pl_ksef_invoice_hash)
            if not doc or doc.ksef_number in linked:
                continue
            values = {"l10n_pl_ksef_number": doc.ksef_number, "l10n_pl_ksef_imported": True}
            acquired = parse_naive_utc((doc.metadata or {}).get("acquisitionDate"))
            if acquired:
                values["l10n_pl_ksef_acquisition_date"] = acquired
            bill.with_context(l10n_pl_ksef_importing=True, skip_invoice_sync=True,
                              skip_is_manually_modified=True).write(values)
            bill.message_post(body=self.env._(
                "KSeF import: this invoice is in KSeF as %(number)s; the number is added to "
                "this bill (same file), no second bill was created.", number=doc.ksef_number))
            linked.add(doc.ksef_number)
        return linked
