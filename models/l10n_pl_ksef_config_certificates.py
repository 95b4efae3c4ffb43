"""KSeF settings: the Offline certificate (signs KOD II of invoices issued offline).

Enrolled through the API (callers authenticated with a certificate only) or uploaded in the
wizard; stored with its key encrypted; ``config._l10n_pl_ksef_get_offline_credentials()``
returns it (``ksef.certs.Credentials``) to sign KOD II.
"""
from odoo import fields, models
from odoo.exceptions import UserError

from ..ksef import certs as ksef_certs
from ..ksef import errors as ksef_errors
from .l10n_pl_ksef_config import _naive


class L10nPlKsefConfig(models.Model):
    _inherit = "l10n_pl_ksef.config"

    def _l10n_pl_ksef_get_offline_credentials(self):
        """The offline certificate with its key (ksef.certs.Credentials), checked."""
        self.ensure_one()
        if not self.has_offline_certificate:
            raise UserError(self.env._("The company %(company)s has no KSeF offline certificate.",
                                       company=self.company_id.display_name))
        try:
            return ksef_certs.load_credentials(
                (self.sudo().offline_cert_pem or "").encode(),
                self._l10n_pl_ksef_secret("offline_key_encrypted"),
                self._l10n_pl_ksef_secret("offline_key_password_encrypted").decode() or None,
                expected_type=ksef_certs.OFFLINE)
        except ksef_errors.KSeFError as exc:
            self._l10n_pl_ksef_raise_user_error(exc)

    def _l10n_pl_ksef_store_offline_certificate(self, credentials, name, key_bytes, key_password):
        self.ensure_one()
        self._l10n_pl_ksef_check_manager()
        self.sudo().write({
            "offline_cert_name": name,
            "offline_cert_pem": ksef_certs.certificate_to_pem(credentials.certificate).decode(),
            "offline_key_encrypted": self._l10n_pl_ksef_encrypt(key_bytes),
            "offline_key_password_encrypted": self._l10n_pl_ksef_encrypt(key_password),
            "offline_cert_serial": credentials.serial,
            "offline_cert_valid_from": _naive(credentials.valid_from),
            "offline_cert_valid_to": _naive(credentials.valid_to),
            "has_offline_certificate": True,
        })
        self.sudo().message_post(body=self.env._(
            "Offline certificate %(serial)s stored (valid until %(date)s), by %(user)s.",
            serial=credentials.serial, date=fields.Datetime.to_string(_naive(credentials.valid_to)),
            user=self.env.user.name))

    # --- offline certificate enrollment ------------------------------------------

    def _l10n_pl_ksef_enroll_offline_certificate(self, name):
        """Generate a key pair, enroll an Offline certificate through the API and store both."""
        self.ensure_one()
        self._l10n_pl_ksef_check_manager()
        if self.auth_method != "certificate":
            raise UserError(self.env._(
                "KSeF issues certificates only to callers authenticated with a certificate, not "
                "with a token. Connect to KSeF with your KSeF certificate first, or upload an "
                "offline certificate obtained in the KSeF application."))
        try:
            with self._l10n_pl_ksef_client() as client:
                cert_der, private_key = client.enroll_offline_certificate(name, key_type="ec")
            key_pem = ksef_certs.private_key_to_pem(private_key)
            credentials = ksef_certs.load_credentials(cert_der, key_pem, None,
                                                      expected_type=ksef_certs.OFFLINE)
        except ksef_errors.KSeFError as exc:
            self._l10n_pl_ksef_raise_user_error(
                exc, action=self.env._("Requesting the offline certificate"))
        self._l10n_pl_ksef_store_offline_certificate(credentials, name, key_pem, None)
        return credentials

    def action_l10n_pl_ksef_remove_offline_certificate(self):
        self._l10n_pl_ksef_check_manager()
        self.sudo().write({
            "offline_cert_name": False, "offline_cert_pem": False, "offline_key_encrypted": False,
            "offline_key_password_encrypted": False, "offline_cert_serial": False,
            "offline_cert_valid_from": False, "offline_cert_valid_to": False,
            "has_offline_certificate": False,
        })
        return True
