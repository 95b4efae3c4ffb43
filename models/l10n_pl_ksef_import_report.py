from odoo import api, models


def party_lines(party):
    """Readable lines (name first) of an FA(3) party (seller, buyer, third party)."""
    if not party:
        return []
    lines = [party.name or "-"]
    if party.nip:
        lines.append("NIP: %s" % party.nip)
    if getattr(party, "eu_vat", None):
        lines.append("VAT UE: %s%s" % (party.eu_code or "", party.eu_vat))
    if getattr(party, "foreign_id", None):
        lines.append("ID: %s %s" % (party.foreign_country or "", party.foreign_id))
    address = party.address
    if address:
        lines += [value for value in (address.line1, address.line2, address.country) if value]
    for contact in party.contacts or []:
        lines.append(" ".join(value for value in (contact.email, contact.phone) if value))
    if getattr(party, "role", None) or getattr(party, "other_role", None):
        lines.append("Rola / role: %s" % (party.role or party.other_role))
    return lines


class ReportKsefInvoiceVisualisation(models.AbstractModel):
    """Values of the readable FA(3) rendering of bills received from KSeF."""

    _name = "report.l10n_pl_ksef.report_ksef_invoice_visualisation"
    _description = "KSeF invoice visualisation"

    @api.model
    def _get_report_values(self, docids, data=None):
        from ..ksef.fa3.codes import BUCKET_LABELS

        return {
            "doc_ids": docids,
            "doc_model": "account.move",
            "docs": self.env["account.move"].browse(docids),
            "bucket_labels": BUCKET_LABELS,
            "party_lines": party_lines,
        }
