import functools

from odoo import api, models

from ..tools import ksef_i18n


def party_lines(party, env=None):
    """Readable lines (name first) of an FA(3) party (seller, buyer, third party).

    With ``env`` the role label is in the user's language."""
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
        role = party.role or party.other_role
        lines.append(env._("Role: %(role)s", role=role) if env is not None else "Rola / role: %s" % role)
    return lines


class ReportKsefInvoiceVisualisation(models.AbstractModel):
    """Values of the readable FA(3) rendering of bills received from KSeF."""

    _name = "report.l10n_pl_ksef.report_ksef_invoice_visualisation"
    _description = "KSeF invoice visualisation"

    @api.model
    def _get_report_values(self, docids, data=None):
        return {
            "doc_ids": docids,
            "doc_model": "account.move",
            "docs": self.env["account.move"].browse(docids),
            "bucket_labels": ksef_i18n.bucket_labels(self.env),
            "party_lines": functools.partial(party_lines, env=self.env),
        }
