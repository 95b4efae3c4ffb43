"""KSeF settings: renewing the authentication certificate (auth_method "certificate").

KSeF issues a company's successor certificate to a caller logged in with XAdES, so the renewal
is an enrollment made after a login with the current certificate (the core's
``begin_certificate_enrollment`` / ``poll_certificate_enrollment``, the same steps as the
offline certificate). The new private key never leaves Odoo: it is kept encrypted (vault) with
the request in ``auth_renew_encrypted`` until KSeF has issued the certificate; the scheduled
action "KSeF: issued certificates" collects it. The new certificate replaces the old one only
once issued AND a test XAdES login with it succeeded; until then (and after any failure) the
old one stays in use, and a failure says why on the settings (chatter, activity, message).

Automatic renewal (opt-in, ``auth_renew_auto``): the daily expiry check starts the request 30
days before the current certificate expires.
"""
import json
import logging
import re
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools.misc import format_date

from ..ksef import certs as ksef_certs
from ..ksef import errors as ksef_errors
from ..tools import ksef_i18n
from .l10n_pl_ksef_config import OFFLINE_WARNING_DAYS, SECRET_GROUP, _naive
from .l10n_pl_ksef_config_certificates import _reason
from .l10n_pl_ksef_config_client import _identity_label

_logger = logging.getLogger(__name__)

_NAME_OK = re.compile(r"[^0-9A-Za-z_\- ]+")


class L10nPlKsefConfig(models.Model):
    _inherit = "l10n_pl_ksef.config"

    auth_renew_auto = fields.Boolean(
        string="Renew automatically 30 days before expiry",
        help="When the KSeF authentication certificate expires within 30 days, Odoo requests its "
             "successor from KSeF (after a login with the current certificate) and uses it once "
             "KSeF has issued it and a test login with it worked.")
    auth_renew_reference = fields.Char(
        "Authentication certificate requested", readonly=True, copy=False,
        help="Reference of the authentication certificate request KSeF is processing; the current "
             "certificate stays in use until the new one is issued and a login with it worked.")
    auth_renew_started_at = fields.Datetime("Renewal requested on", readonly=True, copy=False)
    auth_renew_encrypted = fields.Text(groups=SECRET_GROUP, copy=False, prefetch=False,
                                       readonly=True)
    auth_renew_message = fields.Text(
        "Last renewal", readonly=True, copy=False,
        help="Why the last renewal of the authentication certificate ended without a new "
             "certificate.")

    @api.model
    def _l10n_pl_ksef_auth_reset_vals(self):
        vals = super()._l10n_pl_ksef_auth_reset_vals()
        vals.update({"auth_renew_reference": False, "auth_renew_started_at": False,
                     "auth_renew_encrypted": False, "auth_renew_message": False})
        return vals

    # --- button ----------------------------------------------------------------------------

    def action_l10n_pl_ksef_renew_auth_certificate(self):
        """Request the successor of the authentication certificate (button)."""
        self.ensure_one()
        self._l10n_pl_ksef_check_manager()
        if self.auth_method != "certificate" or self.state == "not_connected":
            raise UserError(self.env._(
                "Only a company connected to KSeF with a KSeF certificate can renew it from Odoo. "
                "Connect with your KSeF certificate first (\"Connect to KSeF\")."))
        return self._l10n_pl_ksef_renewal_button(
            "auth_renew_reference", "auth_renew_message",
            self._l10n_pl_ksef_begin_auth_renewal, self._l10n_pl_ksef_collect_auth_renewal,
            action=self.env._("Renewing the authentication certificate"),
            renewed=lambda new: self.env._(
                "The authentication certificate was renewed: %(serial)s, valid until %(date)s.",
                serial=new.serial, date=format_date(self.env, _naive(new.valid_to))),
            pending=lambda reference: self.env._(
                "KSeF is issuing the new authentication certificate (request %(reference)s). "
                "Odoo uses it as soon as it is issued and a test login with it worked; until then "
                "the current certificate stays in use.", reference=reference),
            failed=lambda: self.env._("The authentication certificate was not renewed."))

    # --- the request ---------------------------------------------------------------------

    def _l10n_pl_ksef_begin_auth_renewal(self):
        """Log in with the current certificate and send the request (new key pair)."""
        self.ensure_one()
        name = _NAME_OK.sub(" ", self.company_id.name or "").strip()[:60] or "Odoo"
        name = "%s KSeF %s" % (name, fields.Date.context_today(self).year)
        with self._l10n_pl_ksef_client() as client:
            pending = client.begin_certificate_enrollment(
                name, cert_type=ksef_certs.AUTHENTICATION, key_type="ec")
        self.sudo().write({
            "auth_renew_reference": pending.reference_number,
            "auth_renew_started_at": _naive(pending.started_at),
            "auth_renew_encrypted": self._l10n_pl_ksef_encrypt(json.dumps(pending.to_dict())),
            "auth_renew_message": False,
        })
        self.sudo().message_post(body=self.env._(
            "New authentication certificate requested from KSeF (request %(reference)s); the "
            "current certificate %(serial)s stays in use until it is issued and tested.",
            reference=pending.reference_number, serial=self.auth_cert_serial))
        return pending

    def _l10n_pl_ksef_drop_auth_renewal(self):
        self.sudo().write({"auth_renew_reference": False, "auth_renew_started_at": False,
                           "auth_renew_encrypted": False})

    def _l10n_pl_ksef_collect_auth_renewal(self):
        """One look at the pending renewal -> the new Credentials once in use, else None (still
        pending, or ended: refused, login with it failed, given up; the old one stays)."""
        self.ensure_one()
        found = self._l10n_pl_ksef_poll_pending_certificate(
            "auth_renew_encrypted", ksef_certs.AUTHENTICATION, "_l10n_pl_ksef_end_auth_renewal")
        if not found:
            return None
        credentials, pending = found
        # the test: a XAdES login with the new certificate, in the company's context
        nip = self.connected_nip or self._l10n_pl_ksef_check_nip()
        client = self._l10n_pl_ksef_new_client()
        try:
            client.authenticate_with_certificate(nip, credentials=credentials)
        except ksef_errors.KSeFAuthPending:
            client.close()                        # KSeF still checking it: test again later
            self._l10n_pl_ksef_trigger_certificate_cron(pending)
            return None
        except ksef_errors.KSeFError as exc:
            client.close()
            self._l10n_pl_ksef_end_auth_renewal(self.env._(
                "KSeF issued certificate %(serial)s but the test login with it failed: %(error)s",
                serial=credentials.serial, error=ksef_i18n.error_message(self.env, exc)))
            return None
        try:
            self._l10n_pl_ksef_replace_auth_certificate(credentials, pending.private_key_pem, client)
        finally:
            client.close()
        return credentials

    def _l10n_pl_ksef_replace_auth_certificate(self, credentials, key_bytes, client):
        """Put the issued and tested certificate in use (its login's tokens kept)."""
        old_serial, old_to = self.auth_cert_serial, self.auth_cert_valid_to
        self.sudo().write({
            "auth_cert_pem": ksef_certs.certificate_to_pem(credentials.certificate).decode(),
            "auth_key_encrypted": self._l10n_pl_ksef_encrypt(key_bytes),
            "auth_key_password_encrypted": False,
            "auth_cert_serial": credentials.serial,
            "auth_cert_subject": _identity_label(credentials.identity),
            "auth_cert_valid_from": _naive(credentials.valid_from),
            "auth_cert_valid_to": _naive(credentials.valid_to),
            "has_auth_certificate": True,
            "session_encrypted": False,
            "auth_renew_reference": False, "auth_renew_started_at": False,
            "auth_renew_encrypted": False, "auth_renew_message": False,
        })
        self._l10n_pl_ksef_save_session(client)
        self.sudo().message_post(body=self.env._(
            "KSeF authentication certificate renewed: %(old)s (valid until %(old_to)s) replaced by "
            "%(new)s (valid from %(new_from)s until %(new_to)s), after a successful test login.",
            old=old_serial or "-", old_to=format_date(self.env, old_to) if old_to else "-",
            new=credentials.serial, new_from=format_date(self.env, _naive(credentials.valid_from)),
            new_to=format_date(self.env, _naive(credentials.valid_to)))
            + " " + self.env._(
                "Odoo does not revoke the previous certificate: it stays valid in KSeF until it "
                "expires. If no other program uses it, you may revoke it in KSeF's certificate "
                "module (MCU)."))

    def _l10n_pl_ksef_end_auth_renewal(self, reason):
        """The renewal ended without a new certificate: the old one stays; say why."""
        reference = self.auth_renew_reference
        self._l10n_pl_ksef_drop_auth_renewal()
        summary = self.env._("KSeF authentication certificate not renewed")
        note = self.env._(
            "Request %(reference)s: %(reason)s The current certificate %(serial)s stays in use "
            "(valid until %(date)s). Try again with the \"Renew authentication certificate\" "
            "button, or connect again with a certificate obtained in the KSeF application.",
            reference=reference or "-", reason=reason, serial=self.auth_cert_serial or "-",
            date=format_date(self.env, self.auth_cert_valid_to) if self.auth_cert_valid_to else "-")
        self.sudo().write({"auth_renew_message": note})
        self.sudo().message_post(body=self.env._("%(summary)s. %(note)s", summary=summary,
                                                 note=note))
        users = self._l10n_pl_ksef_manager_users()
        if users:
            activity_type = self.env.ref("mail.mail_activity_data_warning", raise_if_not_found=False)
            self.sudo().activity_schedule(
                activity_type_id=activity_type.id if activity_type else False,
                summary=summary, note=note, user_id=users[0].id,
                date_deadline=fields.Date.context_today(self))

    # --- scheduled actions -----------------------------------------------------------------

    def _l10n_pl_ksef_auth_renewal_due(self, today=None):
        self.ensure_one()
        today = today or fields.Date.context_today(self)
        return bool(self.auth_renew_auto and self.state == "connected"
                    and self.auth_method == "certificate" and not self.auth_renew_reference
                    and self.auth_cert_valid_to
                    and self.auth_cert_valid_to.date() <= today + timedelta(days=OFFLINE_WARNING_DAYS))

    def _l10n_pl_ksef_auto_renew_auth_certificate(self):
        """Daily (opt-in): start the renewal; a failure is said on the company, never raised."""
        self.ensure_one()
        try:
            self._l10n_pl_ksef_begin_auth_renewal()
        except (ksef_errors.KSeFError, UserError) as exc:
            _logger.warning("KSeF: renewal of the authentication certificate of company %s "
                            "failed: %s", self.company_id.id, exc.__class__.__name__)
            self._l10n_pl_ksef_end_auth_renewal(_reason(self.env, exc))
            return False
        self._l10n_pl_ksef_collect_auth_renewal()
        return True
