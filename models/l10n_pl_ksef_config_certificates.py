"""KSeF settings: the Offline certificate (signs KOD II of invoices issued offline).

Enrolled through the API (callers authenticated with a certificate only) or uploaded in the
wizard; stored with its key encrypted; ``config._l10n_pl_ksef_get_offline_credentials()``
returns it (``ksef.certs.Credentials``) to sign KOD II.

No worker waits for KSeF to issue a certificate: the request (its reference and the new
private key, encrypted) is kept on the settings, looked at once, and then by the scheduled
action "KSeF: issued certificates" until KSeF has issued it. A certificate KSeF issued is put
in use only once it loads as an Offline certificate with the request's key and a test KOD II
signature made with it verifies; until then (and after any failure, said in the chatter, an
activity and on the settings) the current one stays in use.

Renewal (companies logged in with a KSeF certificate): the "Renew offline certificate" button
(KSeF managers), or, opt-in (``offline_renew_auto``), the same scheduled action requests the
successor 30 days before the certificate expires (at most once a day).
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
from ..ksef import qr as ksef_qr
from ..ksef.client import PendingEnrollment
from ..tools import ksef_i18n, vault
from .l10n_pl_ksef_config import OFFLINE_WARNING_DAYS, SECRET_GROUP, _naive

_logger = logging.getLogger(__name__)

#: a request KSeF has not answered within this time is given up (the managers are told)
ENROLLMENT_MAX_AGE = timedelta(days=2)
#: what KSeF accepts as a certificate name
_NAME_OK = re.compile(r"[^0-9A-Za-z_\- ]+")
#: failures of an automatic renewal tried again the next day without a word (KSeF unreachable,
#: busy or not answering): anything else is said once on the settings
_LATER = (ksef_errors.KSeFTransportError, ksef_errors.KSeFServerError,
          ksef_errors.KSeFRateLimited, ksef_errors.KSeFAuthPending)


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
    offline_renew_auto = fields.Boolean(
        string="Renew automatically 30 days before it expires",
        help="When the offline certificate expires within 30 days, Odoo requests its successor "
             "from KSeF (after a login with the company's KSeF certificate) and uses it once KSeF "
             "has issued it and a test KOD II signature with it verified. Only for companies "
             "connected with a KSeF certificate.")
    offline_renew_tried_on = fields.Date(
        "Last automatic renewal", readonly=True, copy=False,
        help="The day Odoo last requested the successor of the offline certificate by itself "
             "(at most once a day).")

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

    def _l10n_pl_ksef_store_offline_certificate(self, credentials, name, key_bytes, key_password,
                                                post=True):
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
        if not post:
            return
        self.sudo().message_post(body=self.env._(
            "Offline certificate %(serial)s stored (valid until %(date)s), by %(user)s.",
            serial=credentials.serial, date=format_date(self.env, _naive(credentials.valid_to)),
            user=self.env.user.name))

    # --- offline certificate enrollment ------------------------------------------

    def _l10n_pl_ksef_check_can_enroll(self):
        """KSeF issues certificates only to a caller logged in with a certificate (XAdES)."""
        self.ensure_one()
        self._l10n_pl_ksef_check_manager()
        if self.auth_method != "certificate" or self.state == "not_connected":
            raise UserError(self.env._(
                "KSeF issues certificates only to callers authenticated with a certificate, not "
                "with a token. Connect to KSeF with your KSeF certificate first, or upload an "
                "offline certificate obtained in the KSeF application."))

    def _l10n_pl_ksef_enroll_offline_certificate(self, name):
        """Request an Offline certificate from KSeF (new key pair) -> Credentials when KSeF issued
        it at once, None when it is still working (stored later by the scheduled action)."""
        self.ensure_one()
        self._l10n_pl_ksef_check_can_enroll()
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
        if self.has_offline_certificate:
            body = self.env._(
                "New offline certificate requested from KSeF (request %(reference)s, name "
                "%(name)s); the current offline certificate %(serial)s stays in use until the new "
                "one is issued and tested.", reference=pending.reference_number, name=pending.name,
                serial=self.offline_cert_serial)
        else:
            body = self.env._(
                "Offline certificate requested from KSeF (request %(reference)s, name %(name)s).",
                reference=pending.reference_number, name=pending.name)
        self.sudo().message_post(body=body)

    def _l10n_pl_ksef_drop_enrollment(self):
        self.sudo().write({"offline_enroll_reference": False, "offline_enroll_started_at": False,
                           "offline_enroll_encrypted": False})

    def _l10n_pl_ksef_poll_pending_certificate(self, field, expected_type, end_method):
        """One look at the certificate request kept (encrypted) in ``field`` -> (Credentials,
        PendingEnrollment) once KSeF has issued it and it loads as ``expected_type`` with the
        request's key; None otherwise: still pending (the scheduled action is triggered, an
        unreachable KSeF is asked later) or ended (``end_method(reason)`` was called: request
        unreadable, refused or unknown to KSeF, not issued within two days, certificate unusable).

        Shared by the offline certificate and the renewal of the authentication certificate."""
        self.ensure_one()
        end = getattr(self, end_method)
        try:
            pending = PendingEnrollment.from_dict(json.loads(
                self._l10n_pl_ksef_secret(field).decode() or "{}"))
        except (ValueError, vault.VaultError, ksef_errors.KSeFError, UserError) as exc:
            end(_reason(self.env, exc))
            return None
        try:
            with self._l10n_pl_ksef_client() as client:
                der = client.poll_certificate_enrollment(pending)
        except (ksef_errors.CertificateError, ksef_errors.KSeFBadRequest,
                ksef_errors.KSeFNotFound) as exc:         # refused, or unknown to KSeF
            end(_reason(self.env, exc))
            return None
        except (ksef_errors.KSeFError, UserError) as exc:  # unreachable, 429, login: later
            _logger.info("KSeF %s certificate request %s of company %s not collected now: %s",
                         expected_type, pending.reference_number, self.company_id.id,
                         exc.__class__.__name__)
            der = None
        if der is None:
            if pending.age() > ENROLLMENT_MAX_AGE.total_seconds():
                end(self.env._("KSeF has not issued the certificate within two days."))
            else:
                self._l10n_pl_ksef_trigger_certificate_cron(pending)
            return None
        try:
            credentials = ksef_certs.load_credentials(der, pending.private_key_pem, None,
                                                      expected_type=expected_type)
        except ksef_errors.KSeFError as exc:
            end(_reason(self.env, exc))
            return None
        return credentials, pending

    def _l10n_pl_ksef_collect_enrollment(self):
        """One look at the pending request -> Credentials once stored (issued, and a test KOD II
        signature with it verified), else None (still pending, or ended: refused / unusable /
        given up, with a chatter line and an activity; a current certificate stays in use)."""
        self.ensure_one()
        found = self._l10n_pl_ksef_poll_pending_certificate(
            "offline_enroll_encrypted", ksef_certs.OFFLINE, "_l10n_pl_ksef_end_enrollment")
        if not found:
            return None
        credentials, pending = found
        try:        # the test: a KOD II signed with it, in the company's context, verifies
            ksef_qr.check_offline_signing(
                self._l10n_pl_ksef_qr_environment(),
                self.nip or self.connected_nip or self._l10n_pl_ksef_check_nip(),
                credentials.certificate, credentials.private_key)
        except (ksef_errors.KSeFError, UserError) as exc:
            self._l10n_pl_ksef_end_enrollment(self.env._(
                "KSeF issued certificate %(serial)s but a test KOD II signature with it failed: "
                "%(error)s", serial=credentials.serial, error=_reason(self.env, exc)))
            return None
        old_serial = self.has_offline_certificate and self.offline_cert_serial
        old_to = self.offline_cert_valid_to
        self._l10n_pl_ksef_drop_enrollment()
        self.sudo().offline_enroll_message = False
        self._l10n_pl_ksef_store_offline_certificate(
            credentials, pending.name, pending.private_key_pem, None, post=not old_serial)
        if old_serial:
            self.sudo().message_post(body=self.env._(
                "KSeF offline certificate renewed: %(old)s (valid until %(old_to)s) replaced by "
                "%(new)s (valid from %(new_from)s until %(new_to)s), after a test KOD II signature "
                "with it verified.",
                old=old_serial, old_to=format_date(self.env, old_to) if old_to else "-",
                new=credentials.serial,
                new_from=format_date(self.env, _naive(credentials.valid_from)),
                new_to=format_date(self.env, _naive(credentials.valid_to)))
                + " " + self.env._(
                    "The previous certificate is not revoked: the KOD II codes of invoices "
                    "already issued offline were signed with it and are verified against it. "
                    "Do not revoke it while those invoices are in circulation."))
        return credentials

    def _l10n_pl_ksef_qr_environment(self):
        """The KSeF environment whose QR host the links of this company's invoices name."""
        self.ensure_one()
        return {"prod": "PROD", "demo": "DEMO"}.get(self.environment, "TEST")

    def _l10n_pl_ksef_end_enrollment(self, reason, once=False):
        """The request ended without a certificate: say so where the managers look (``once``:
        not again when the settings already say exactly that)."""
        reference = self.offline_enroll_reference
        self._l10n_pl_ksef_drop_enrollment()
        if self.has_offline_certificate:      # a renewal: the current certificate stays
            summary = self.env._("KSeF offline certificate not renewed")
            note = self.env._(
                "Request %(reference)s: %(reason)s The current offline certificate %(serial)s "
                "stays in use (valid until %(date)s). Try again with the \"Renew offline "
                "certificate\" button, or upload one obtained in the KSeF application.",
                reference=reference or "-", reason=reason, serial=self.offline_cert_serial or "-",
                date=format_date(self.env, self.offline_cert_valid_to)
                if self.offline_cert_valid_to else "-")
        else:
            summary = self.env._("KSeF did not issue the offline certificate")
            note = self.env._("Request %(reference)s: %(reason)s Request it again (Offline "
                              "certificate button) or upload one obtained in the KSeF "
                              "application.", reference=reference, reason=reason)
        if once and note == self.sudo().offline_enroll_message:
            return
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

    # --- renewal -------------------------------------------------------------------

    def action_l10n_pl_ksef_renew_offline_certificate(self):
        """Request the successor of the offline certificate (button); it replaces the current
        one only once KSeF has issued it and a test KOD II signature with it verified."""
        self.ensure_one()
        self._l10n_pl_ksef_check_can_enroll()
        if not self.has_offline_certificate and not self.offline_enroll_reference:
            raise UserError(self.env._(
                "The company %(company)s has no offline certificate to renew. Request one with "
                "the \"Offline certificate\" button.", company=self.company_id.display_name))
        return self._l10n_pl_ksef_renewal_button(
            "offline_enroll_reference", "offline_enroll_message",
            self._l10n_pl_ksef_begin_offline_renewal, self._l10n_pl_ksef_collect_enrollment,
            action=self.env._("Renewing the offline certificate"),
            renewed=lambda new: self.env._(
                "The offline certificate was renewed: %(serial)s, valid until %(date)s.",
                serial=new.serial, date=format_date(self.env, _naive(new.valid_to))),
            pending=lambda reference: self.env._(
                "KSeF is issuing the new offline certificate (request %(reference)s). Odoo uses "
                "it as soon as it is issued and a test KOD II signature with it verified; until "
                "then the current certificate stays in use.", reference=reference),
            failed=lambda: self.env._("The offline certificate was not renewed."))

    def _l10n_pl_ksef_renewal_button(self, reference_field, message_field, begin, collect,
                                     action, renewed, pending, failed):
        """What a Renew button does, for either certificate: ``begin()`` the request unless one
        is pending (in ``reference_field``), ``collect()`` once, and say how it ended in a
        notification. A failure is not raised: its reason (``message_field``, also in the
        chatter and an activity) is kept on the settings, not rolled back. ``renewed(new)``,
        ``pending(reference)``, ``failed()``: the texts, in the user's language."""
        self.ensure_one()
        if not self[reference_field]:
            try:
                begin()
            except ksef_errors.KSeFError as exc:
                self._l10n_pl_ksef_raise_user_error(exc, action=action)
        new = collect()
        if new:
            kind, message = "success", renewed(new)
        elif self[reference_field]:
            kind, message = "info", pending(self[reference_field])
        else:
            kind, message = "danger", self.sudo()[message_field] or failed()
        return {"type": "ir.actions.client", "tag": "display_notification",
                "params": {"type": kind, "title": self.env._("KSeF"), "message": message,
                           "sticky": kind == "danger",
                           "next": {"type": "ir.actions.client", "tag": "soft_reload"}}}

    def _l10n_pl_ksef_begin_offline_renewal(self):
        """Log in with the authentication certificate and send the request (new key pair)."""
        self.ensure_one()
        name = _NAME_OK.sub(" ", self.offline_cert_name or "").strip()[:80] or "Odoo offline"
        name = "%s %s" % (name, fields.Date.context_today(self).year)
        name = name if len(name) >= 5 else "Odoo offline %s" % name
        with self._l10n_pl_ksef_client() as client:
            pending = client.begin_certificate_enrollment(name, key_type="ec")
        self._l10n_pl_ksef_keep_enrollment(pending)
        return pending

    def _l10n_pl_ksef_offline_renewal_due(self, today=None):
        """Opt-in automatic renewal: connected with a certificate, 30 days before the offline
        certificate expires, nothing requested yet, not tried yet today."""
        self.ensure_one()
        today = today or fields.Date.context_today(self)
        return bool(self.offline_renew_auto and self.state == "connected"
                    and self.auth_method == "certificate" and self.has_offline_certificate
                    and not self.offline_enroll_reference and self.offline_cert_valid_to
                    and self.offline_cert_valid_to.date() <= today + timedelta(
                        days=OFFLINE_WARNING_DAYS)
                    and self.offline_renew_tried_on != today)

    @api.model
    def _cron_l10n_pl_ksef_certificates(self):
        """Store the certificates KSeF has issued (offline, and renewed authentication
        certificates), each once tested; renew offline certificates in time (opt-in)."""
        for config in self.sudo().search([("company_id", "!=", False)]):
            # one company must not stop the others: a failure (a database error included) is
            # rolled back to its savepoint, logged, and the next company goes on
            try:
                with config.env.cr.savepoint():
                    if config.auth_renew_reference:   # a renewal of the authentication certificate
                        config._l10n_pl_ksef_collect_auth_renewal()
            except Exception:
                _logger.exception("KSeF certificates: company %s failed", config.company_id.id)
            try:
                with config.env.cr.savepoint():
                    if config.offline_enroll_reference:
                        config._l10n_pl_ksef_collect_enrollment()
                    elif config._l10n_pl_ksef_offline_renewal_due():   # opt-in
                        config._l10n_pl_ksef_renew_offline_certificate()
            except Exception:
                _logger.exception("KSeF certificates: company %s failed", config.company_id.id)
            if not modules.module.current_test:
                # one company's stored certificate must not wait for the others (or be lost
                # with them): each is committed as it is done
                config.env.cr.commit()  # pylint: disable=invalid-commit

    def _l10n_pl_ksef_renew_offline_certificate(self):
        """Scheduled (opt-in): request the successor of the offline certificate; it replaces it
        once issued and tested. KSeF unreachable: tried again the next day, in silence; refused:
        said once on the settings (chatter, activity, message). Never raises."""
        self.ensure_one()
        self.sudo().offline_renew_tried_on = fields.Date.context_today(self)
        try:
            self._l10n_pl_ksef_begin_offline_renewal()
        except (ksef_errors.KSeFError, UserError) as exc:
            _logger.warning("KSeF: renewal of the offline certificate of company %s failed: %s",
                            self.company_id.id, exc.__class__.__name__)
            if not isinstance(exc, _LATER):
                self._l10n_pl_ksef_end_enrollment(_reason(self.env, exc), once=True)
            return False
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


def _reason(env, exc):
    """What went wrong, in the user's language (a core error or a UserError)."""
    if isinstance(exc, UserError):
        return exc.args[0] if exc.args else str(exc)
    return ksef_i18n.error_message(env, exc)
