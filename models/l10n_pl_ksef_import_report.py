from odoo import api, models


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
        }
