from odoo import api, fields, models

from .l10n_pl_ksef_config import BATCH_THRESHOLD


class ResCompany(models.Model):
    _inherit = "res.company"

    l10n_pl_ksef_config_ids = fields.One2many("l10n_pl_ksef.config", "company_id",
                                              string="KSeF settings records")
    l10n_pl_ksef_config_id = fields.Many2one(
        "l10n_pl_ksef.config", string="KSeF settings", compute="_compute_l10n_pl_ksef_config_id",
        search="_search_l10n_pl_ksef_config_id")
    l10n_pl_ksef_state = fields.Selection(related="l10n_pl_ksef_config_id.state",
                                          string="KSeF connection")
    l10n_pl_ksef_environment = fields.Selection(related="l10n_pl_ksef_config_id.environment",
                                                string="KSeF environment")

    def _search_l10n_pl_ksef_config_id(self, operator, value):
        return [("l10n_pl_ksef_config_ids", operator, value)]

    @api.depends("l10n_pl_ksef_config_ids")
    def _compute_l10n_pl_ksef_config_id(self):
        configs = self.env["l10n_pl_ksef.config"].sudo().search([("company_id", "in", self.ids)])
        by_company = {config.company_id.id: config.id for config in configs}
        for company in self:
            company.l10n_pl_ksef_config_id = by_company.get(company.id, False)

    def _l10n_pl_ksef_get_config(self):
        """The company's KSeF settings (sudo record), created on first use."""
        self.ensure_one()
        return self.env["l10n_pl_ksef.config"]._l10n_pl_ksef_for_company(self)

    def _l10n_pl_ksef_get_client(self):
        """An authenticated ksef.client.KSeFClient for this company (shells and tests).

        The module's code uses ``with config._l10n_pl_ksef_client() as client:`` instead, which
        also saves refreshed tokens and closes the HTTP session. Raises UserError when the
        company is not connected, core errors (ksef.errors) otherwise.
        """
        return self._l10n_pl_ksef_get_config()._l10n_pl_ksef_get_client()

    def _l10n_pl_ksef_is_connected(self):
        """The company sends through this module (connected to a KSeF environment)."""
        self.ensure_one()
        config = self.sudo().l10n_pl_ksef_config_id
        return bool(config and config.state in ("connected", "error") and config.auth_method)

    def _l10n_pl_ksef_send_on_post(self):
        self.ensure_one()
        return bool(self.sudo().l10n_pl_ksef_config_id.send_on_post)

    def _l10n_pl_ksef_batch_threshold(self):
        """Above this many waiting invoices (of one mode), the cron sends one batch session."""
        self.ensure_one()
        config = self.sudo().l10n_pl_ksef_config_id
        value = config.batch_threshold if config else BATCH_THRESHOLD
        return max(1, value or BATCH_THRESHOLD)

    def action_l10n_pl_ksef_open_settings(self):
        self.ensure_one()
        config = self._l10n_pl_ksef_get_config()
        return {
            "type": "ir.actions.act_window",
            "res_model": "l10n_pl_ksef.config",
            "res_id": config.id,
            "view_mode": "form",
            "name": self.env._("KSeF"),
        }

    @api.model_create_multi
    def create(self, vals_list):
        companies = super().create(vals_list)
        for company in companies:
            company._l10n_pl_ksef_get_config()
        return companies
