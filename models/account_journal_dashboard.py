"""Count of invoices waiting for KSeF on the sales journal's dashboard card."""
from odoo import models


class AccountJournal(models.Model):
    _inherit = "account.journal"

    def _fill_sale_purchase_dashboard_data(self, dashboard_data):
        super()._fill_sale_purchase_dashboard_data(dashboard_data)
        sale_journals = self.filtered(lambda j: j.type == "sale")
        if not sale_journals:
            return
        groups = self.env["account.move"]._read_group(
            [("journal_id", "in", sale_journals.ids),
             ("l10n_pl_ksef_state", "in", ("queued", "sent", "rejected"))],
            ["journal_id"], ["__count"])
        counts = {journal.id: count for journal, count in groups}
        for journal in sale_journals:
            dashboard_data[journal.id]["l10n_pl_ksef_pending"] = counts.get(journal.id, 0)
