from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    l10n_pl_ksef_config_id = fields.Many2one(related="company_id.l10n_pl_ksef_config_id")
    l10n_pl_ksef_state = fields.Selection(related="company_id.l10n_pl_ksef_config_id.state",
                                          string="KSeF connection")
    l10n_pl_ksef_environment = fields.Selection(
        related="company_id.l10n_pl_ksef_config_id.environment", string="KSeF environment")
    l10n_pl_ksef_auth_method = fields.Selection(
        related="company_id.l10n_pl_ksef_config_id.auth_method", string="KSeF authentication")
    l10n_pl_ksef_last_contact = fields.Datetime(
        related="company_id.l10n_pl_ksef_config_id.last_contact", string="Last contact with KSeF")
    l10n_pl_ksef_offline_cert_valid_to = fields.Datetime(
        related="company_id.l10n_pl_ksef_config_id.offline_cert_valid_to",
        string="Offline certificate valid until")
    l10n_pl_ksef_warning_message = fields.Text(
        related="company_id.l10n_pl_ksef_config_id.warning_message", string="KSeF warnings")

    def action_l10n_pl_ksef_open_settings(self):
        self.ensure_one()
        return self.company_id.action_l10n_pl_ksef_open_settings()

    def action_l10n_pl_ksef_open_connect_wizard(self):
        self.ensure_one()
        return self.company_id._l10n_pl_ksef_get_config().with_env(
            self.env).action_l10n_pl_ksef_open_connect_wizard()

    def action_l10n_pl_ksef_open_offline_wizard(self):
        self.ensure_one()
        return self.company_id._l10n_pl_ksef_get_config().with_env(
            self.env).action_l10n_pl_ksef_open_offline_wizard()
