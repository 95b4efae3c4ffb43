"""KSeF settings: the Offline certificate (signs KOD II of invoices issued offline).

Enrolled through the API (callers authenticated with a certificate only) or uploaded in the
wizard; stored with its key encrypted; ``config._l10n_pl_ksef_get_offline_credentials()``
returns it (``ksef.certs.Credentials``) to sign KOD II.

No worker waits for KSeF to issue a certificate: the request (its reference and the new
private key, encrypted) is kept on the settings, looked at once, and then by the scheduled
action "KSeF: issued certificates" until KSeF has issued it. The same action renews the
offline certificate of companies logged in with a KSeF certificate 30 days before it expires.
"""
import json
import logging
import re
from datetime import timedelta

from odoo import api, fields, models, modules
from odoo.exceptions import UserError
from odoo.tools.misc import format_date

from ..ksef import certs as ksef_certs
from ..ksef import errors as ksef_errors
from ..ksef.client import PendingEnrollment
from ..tools import ksef_i18n, vault
from .l10n_pl_ksef_config import OFFLINE_WARNING_DAYS, SECRET_GROUP, _naive

_logger = logging.getLogger(__name__)

#: a request KSeF has not answered within this time is given up (the managers are told)
ENROLLMENT_MAX_AGE = timedelta(days=2)
#: what KSeF accepts as a certificate name
_NAME_OK = re.compile(r"[^0-9A-Za-z_\- ]+")


class L10nPlKsefConfig(models.Model):
    _inherit = "l10n_pl_ksef.config"

    offline_enroll_reference = fields.Char(
        "Offline certificate requested", readonly=True, copy=False,
        help="Reference of the offline certificate request KSeF is processing; Odoo stores the "
             "certificate as soon as KSeF has issued it.")
    offline_enroll_started_at = fields.Datetime("Requested on", readonly=True, copy=False)
    offline_enroll_encrypted = fields.Text(groups=SECRET_GROUP, copy=False, prefetch=False,
                                           readonly=True)
    offline_enroll_message = fields.Text(
        "Last certificate request", readonly=True, copy=False,
        help="Why the last offline certificate request ended without a certificate.")

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
            serial=credentials.serial, date=format_date(self.env, _naive(credentials.valid_to)),
            user=self.env.user.name))

    # --- offline certificate enrollment ------------------------------------------

    def _l10n_pl_ksef_enroll_offline_certificate(self, name):
        """Request an Offline certificate from KSeF (new key pair) -> Credentials when KSeF issued
        it at once, None when it is still working (stored later by the scheduled action)."""
        self.ensure_one()
        self._l10n_pl_ksef_check_manager()
        if self.auth_method != "certificate":
            raise UserError(self.env._(
                "KSeF issues certificates only to callers authenticated with a certificate, not "
                "with a token. Connect to KSeF with your KSeF certificate first, or upload an "
                "offline certificate obtained in the KSeF application."))
        if self.offline_enroll_reference:
            credentials = self._l10n_pl_ksef_collect_enrollment()
            if credentials or self.offline_enroll_reference:
                return credentials
        try:
            with self._l10n_pl_ksef_client() as client:
                pending = client.begin_certificate_enrollment(name, key_type="ec")
        except ksef_errors.KSeFError as exc:
            self._l10n_pl_ksef_raise_user_error(
                exc, action=self.env._("Requesting the offline certificate"))
        self._l10n_pl_ksef_keep_enrollment(pending)
        return self._l10n_pl_ksef_collect_enrollment()

    def _l10n_pl_ksef_keep_enrollment(self, pending):
        self.sudo().write({
            "offline_enroll_reference": pending.reference_number,
            "offline_enroll_started_at": _naive(pending.started_at),
            "offline_enroll_encrypted": self._l10n_pl_ksef_encrypt(json.dumps(pending.to_dict())),
        })
        self.sudo().message_post(body=self.env._(
            "Offline certificate requested from KSeF (request %(reference)s, name %(name)s).",
            reference=pending.reference_number, name=pending.name))

    def _l10n_pl_ksef_drop_enrollment(self):
        self.sudo().write({"offline_enroll_reference": False, "offline_enroll_started_at": False,
                           "offline_enroll_encrypted": False})

    def _l10n_pl_ksef_collect_enrollment(self):
        """One look at the pending request -> Credentials once stored, else None (still
        pending, or ended: refused / given up, with a chatter line and an activity)."""
        self.ensure_one()
        try:
            pending = PendingEnrollment.from_dict(json.loads(
                self._l10n_pl_ksef_secret("offline_enroll_encrypted").decode() or "{}"))
        except (ValueError, vault.VaultError, ksef_errors.KSeFError) as exc:
            self._l10n_pl_ksef_end_enrollment(ksef_i18n.error_message(self.env, exc))
            return None
        try:
            with self._l10n_pl_ksef_client() as client:
                der = client.poll_certificate_enrollment(pending)
        except (ksef_errors.CertificateError, ksef_errors.KSeFBadRequest,
                ksef_errors.KSeFNotFound) as exc:         # refused, or unknown to KSeF
            self._l10n_pl_ksef_end_enrollment(ksef_i18n.error_message(self.env, exc))
            return None
        except (ksef_errors.KSeFError, UserError) as exc:  # unreachable, 429, login: later
            _logger.info("KSeF certificate request %s of company %s not collected now: %s",
                         pending.reference_number, self.company_id.id, exc)
            der = None
        if der is None:
            if pending.age() > ENROLLMENT_MAX_AGE.total_seconds():
                self._l10n_pl_ksef_end_enrollment(self.env._(
                    "KSeF has not issued the certificate within two days."))
            else:
                self._l10n_pl_ksef_trigger_certificate_cron(pending)
            return None
        try:
            credentials = ksef_certs.load_credentials(der, pending.private_key_pem, None,
                                                      expected_type=ksef_certs.OFFLINE)
        except ksef_errors.KSeFError as exc:
            self._l10n_pl_ksef_end_enrollment(ksef_i18n.error_message(self.env, exc))
            return None
        self._l10n_pl_ksef_drop_enrollment()
        self.sudo().offline_enroll_message = False
        self._l10n_pl_ksef_store_offline_certificate(credentials, pending.name,
                                                     pending.private_key_pem, None)
        return credentials

    def _l10n_pl_ksef_end_enrollment(self, reason):
        """The request ended without a certificate: say so where the managers look."""
        reference = self.offline_enroll_reference
        self._l10n_pl_ksef_drop_enrollment()
        summary = self.env._("KSeF did not issue the offline certificate")
        note = self.env._("Request %(reference)s: %(reason)s Request it again (Offline certificate "
                          "button) or upload one obtained in the KSeF application.",
                          reference=reference, reason=reason)
        self.sudo().write({"offline_enroll_message": note})
        self.sudo().message_post(body=self.env._("%(summary)s. %(note)s", summary=summary,
                                                 note=note))
        users = self._l10n_pl_ksef_manager_users()
        if users:
            activity_type = self.env.ref("mail.mail_activity_data_warning", raise_if_not_found=False)
            self.sudo().activity_schedule(
                activity_type_id=activity_type.id if activity_type else False,
                summary=summary, note=note, user_id=users[0].id,
                date_deadline=fields.Date.context_today(self))

    def _l10n_pl_ksef_trigger_certificate_cron(self, pending):
        cron = self.env.ref("l10n_pl_ksef.ir_cron_l10n_pl_ksef_certificates", raise_if_not_found=False)
        if cron:
            delay = 10 if pending.age() < 60 else 60 if pending.age() < 900 else 600
            cron.sudo()._trigger(fields.Datetime.now() + timedelta(seconds=delay))

    @api.model
    def _cron_l10n_pl_ksef_certificates(self):
        """Store the certificates KSeF has issued (offline, and renewed authentication
        certificates once tested); renew offline certificates in time."""
        today = fields.Date.context_today(self)
        renew_before = today + timedelta(days=OFFLINE_WARNING_DAYS)
        for config in self.sudo().search([("company_id", "!=", False)]):
            try:
                if config.auth_renew_reference:   # a renewal of the authentication certificate
                    config._l10n_pl_ksef_collect_auth_renewal()
            except Exception:  # one company must not stop the others
                _logger.exception("KSeF certificates: company %s failed", config.company_id.id)
            try:
                if config.offline_enroll_reference:
                    config._l10n_pl_ksef_collect_enrollment()
                elif (config.state == "connected" and config.auth_method == "certificate"
                      and config.has_offline_certificate and config.offline_cert_valid_to
                      and config.offline_cert_valid_to.date() <= renew_before):
                    config._l10n_pl_ksef_renew_offline_certificate()
            except Exception:  # one company must not stop the others
                _logger.exception("KSeF certificates: company %s failed", config.company_id.id)
                continue
            if not modules.module.current_test:
                # one company's stored certificate must not wait for the others (or be lost
                # with them): each is committed as it is done
                config.env.cr.commit()  # pylint: disable=invalid-commit

    def _l10n_pl_ksef_renew_offline_certificate(self):
        """Request the successor of the offline certificate (it replaces it once issued)."""
        self.ensure_one()
        name = _NAME_OK.sub(" ", self.offline_cert_name or "").strip()[:80] or "Odoo offline"
        name = "%s %s" % (name, fields.Date.context_today(self).year)
        name = name if len(name) >= 5 else "Odoo offline %s" % name
        try:
            with self._l10n_pl_ksef_client() as client:
                pending = client.begin_certificate_enrollment(name, key_type="ec")
        except (ksef_errors.KSeFError, UserError) as exc:
            _logger.warning("KSeF: renewal of the offline certificate of company %s failed: %s",
                            self.company_id.id, exc)
            return False
        self._l10n_pl_ksef_keep_enrollment(pending)
        self._l10n_pl_ksef_collect_enrollment()
        return True

    def action_l10n_pl_ksef_remove_offline_certificate(self):
        self._l10n_pl_ksef_check_manager()
        self.sudo().write({
            "offline_cert_name": False, "offline_cert_pem": False, "offline_key_encrypted": False,
            "offline_key_password_encrypted": False, "offline_cert_serial": False,
            "offline_cert_valid_from": False, "offline_cert_valid_to": False,
            "has_offline_certificate": False,
        })
        return True
