"""KSeF on the journals' dashboard cards: the count of invoices waiting for KSeF (sales), and
whether the purchase journal's card offers "Import from KSeF" (company connected)."""
from odoo import models


class AccountJournal(models.Model):
    _inherit = "account.journal"

    def _fill_sale_purchase_dashboard_data(self, dashboard_data):
        super()._fill_sale_purchase_dashboard_data(dashboard_data)
        for journal in self.filtered(lambda j: j.type == "purchase"):
            dashboard_data[journal.id]["l10n_pl_ksef_import"] = \
                journal.company_id._l10n_pl_ksef_is_connected()
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
