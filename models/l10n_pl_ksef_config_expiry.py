"""KSeF settings: credentials that expire (daily activities for the KSeF managers) and the
rotation of the vault's master key."""
import logging
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools.misc import format_date

from ..tools import ksef_i18n, vault
from .l10n_pl_ksef_config import OFFLINE_WARNING_DAYS, SECRET_FIELDS, SECRET_GROUP
from .l10n_pl_ksef_office import OFFICE_SECRET_FIELDS

_logger = logging.getLogger(__name__)


class L10nPlKsefConfig(models.Model):
    _inherit = "l10n_pl_ksef.config"

    # --- expiry warnings ---------------------------------------------------------------

    def _l10n_pl_ksef_expiry_warnings(self, today=None):
        """``[(summary, note)]`` of the credentials expiring within 30 days (or expired)."""
        self.ensure_one()
        today = today or fields.Date.context_today(self)
        limit = today + timedelta(days=OFFLINE_WARNING_DAYS)
        warnings = []
        if self.has_offline_certificate and self.offline_cert_valid_to \
                and self.offline_cert_valid_to.date() <= limit:
            if self.state == "connected" and self.auth_method == "certificate":
                # KSeF renews it for a caller logged in with a certificate: say where
                note = self.env._(
                    "Renew it with the \"Renew offline certificate\" button in the KSeF settings "
                    "(or tick \"Renew automatically 30 days before it expires\" there), or upload "
                    "one obtained in the KSeF application (Offline certificate button).")
            else:
                note = self.env._("Obtain a new offline certificate (Offline certificate button).")
            warnings.append((self.env._("KSeF offline certificate expires on %(date)s",
                                        date=format_date(self.env, self.offline_cert_valid_to)),
                             note))
        if self.state == "connected" and self.auth_method == "certificate" \
                and self.auth_cert_valid_to and self.auth_cert_valid_to.date() <= limit:
            warnings.append((self.env._("KSeF authentication certificate expires on %(date)s",
                                        date=format_date(self.env, self.auth_cert_valid_to)),
                             self.env._(
                                 "Renew it with the \"Renew authentication certificate\" button "
                                 "in the KSeF settings (or tick \"Renew automatically 30 days "
                                 "before expiry\" there), or request a new certificate in the "
                                 "KSeF application and connect again.")))
        office = self.sudo().office_id if self.auth_method == "office" else False
        if self.state == "connected" and office and office.auth_cert_valid_to \
                and office.auth_cert_valid_to.date() <= limit:
            warnings.append((self.env._("The accounting office's KSeF certificate expires on %(date)s",
                                        date=format_date(self.env, office.auth_cert_valid_to)),
                             self.env._("Upload the office's new KSeF certificate in the \"Connect "
                                        "to KSeF\" wizard (Through the accounting office).")))
        token_end = self._l10n_pl_ksef_token_end_date()
        if self.state == "connected" and self.auth_method == "token" and token_end <= limit:
            warnings.append((self.env._("KSeF token stops working after %(date)s",
                                        date=format_date(self.env, token_end)),
                             self.env._("Connect with a KSeF certificate before the token stops "
                                        "working.")))
        return warnings

    def _l10n_pl_ksef_manager_users(self):
        self.ensure_one()
        group = self.env.ref(SECRET_GROUP)
        return group.sudo().all_user_ids.filtered(
            lambda user: not user.share and user.active and self.company_id in user.company_ids
            and user.id != self.env.ref("base.user_root").id)

    @api.model
    def _cron_l10n_pl_ksef_check_expiry(self):
        """Daily: schedule a warning activity for the KSeF managers 30 days before expiry, and
        start the renewal of the authentication certificates whose company opted in."""
        activity_type = self.env.ref("mail.mail_activity_data_warning", raise_if_not_found=False)
        for config in self.sudo().search([("company_id", "!=", False)]):
            if config._l10n_pl_ksef_auth_renewal_due():   # opt-in: "Renew automatically"
                try:
                    with self.env.cr.savepoint():
                        config._l10n_pl_ksef_auto_renew_auth_certificate()
                except Exception:  # one company must not stop the others
                    _logger.exception("KSeF: renewal of company %s failed", config.company_id.id)
            users = config._l10n_pl_ksef_manager_users()
            if not users:
                continue
            existing = set(config.activity_ids.mapped("summary"))
            for summary, note in config._l10n_pl_ksef_expiry_warnings():
                if summary in existing:
                    continue
                config.activity_schedule(
                    activity_type_id=activity_type.id if activity_type else False,
                    summary=summary, note=note, user_id=users[0].id,
                    date_deadline=fields.Date.context_today(config))

    # --- key rotation ---------------------------------------------------------------

    @api.model
    def _l10n_pl_ksef_rotate_master_key(self):
        """Re-encrypt every stored KSeF secret of every company with a new key.

        See :mod:`odoo.addons.l10n_pl_ksef.tools.vault` for where the key lives.
        """
        if not self.env.is_admin():
            raise UserError(self.env._("Only administrators can rotate the KSeF encryption key."))
        configs = self.sudo().search([("company_id", "!=", False)])
        plain = {config.id: {name: config._l10n_pl_ksef_secret(name) for name in SECRET_FIELDS}
                 for config in configs}
        # the accounting offices' credentials (l10n_pl_ksef.office), archived ones included
        offices = self.env["l10n_pl_ksef.office"].sudo().with_context(active_test=False).search(
            [("nip", "!=", False)])
        office_plain = {office.id: {name: office._l10n_pl_ksef_secret(name)
                                    for name in OFFICE_SECRET_FIELDS} for office in offices}
        try:
            new_key, commit = vault.prepare_rotation()
        except (OSError, vault.VaultError) as exc:
            raise UserError(ksef_i18n.error_message(self.env, exc)) from exc
        for config in configs:
            config.write({name: vault.encrypt(value, key=new_key) if value else False
                          for name, value in plain[config.id].items()})
        for office in offices:
            office.write({name: vault.encrypt(value, key=new_key) if value else False
                          for name, value in office_plain[office.id].items()})
        self.env.flush_all()
        commit()
        _logger.info("KSeF: secrets of %d companies and %d accounting offices re-encrypted",
                     len(configs), len(offices))
        return True
