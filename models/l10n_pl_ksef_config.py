"""Per-company KSeF settings and the authenticated client helper.

Other parts of the module (sending invoices, importing purchase invoices,
crons) build on this model:

* ``company._l10n_pl_ksef_get_config()`` returns the (sudo) settings record
  of a company, created on first use.
* ``with config._l10n_pl_ksef_client() as client: ...`` is the one way the
  module gets a :class:`ksef.client.KSeFClient` (sending, import, payments,
  buttons, the wizard): authenticated in the company's context, its
  (refreshed) tokens saved and the last contact recorded afterwards, its
  HTTP session closed. Secrets are decrypted only in memory; the
  access/refresh tokens of the last login are kept (encrypted) and reused or
  refreshed, a new login with the stored token or certificate happens only
  when they are no longer usable (``_l10n_pl_ksef_get_client``).
  ``login=False``: an unauthenticated client (the wizard tests new
  credentials with it and stores them itself).
* ``config._l10n_pl_ksef_get_offline_credentials()`` returns the offline
  certificate and key (``ksef.certs.Credentials``) used to sign KOD II.
* ``config._l10n_pl_ksef_raise_user_error(exc)`` turns a core error into a
  UserError with the core's message (what happened, what to do).

Secrets (token, private keys, key passwords, session tokens) are stored
encrypted by :mod:`.vault` (see there where the key lives and how to
rotate it), in fields readable only by the "KSeF manager" group.
"""
import base64
import contextlib
import json
import logging
from datetime import date, timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools.misc import format_date

from ..ksef import certs as ksef_certs
from ..ksef import errors as ksef_errors
from ..ksef import nip as ksef_nip
from . import emulator_service, ksef_i18n, vault

_logger = logging.getLogger(__name__)

ENVIRONMENTS = [
    ("test", "Test (TEST)"),
    ("demo", "Pre-production (DEMO)"),
    ("prod", "Production (PROD)"),
    ("emulator", "Local emulator (evaluation)"),
]
AUTH_METHODS = [
    ("token", "KSeF token"),
    ("certificate", "KSeF certificate"),
]
# KSeF tokens are a transitional mechanism: tokens generated in KSeF 2.0 (from
# 1 February 2026) can be used until the end of 2026 under the regulation in force
# (Dz.U. 2025 poz. 1815, par. 13). The ministry has proposed an extension, so the last day
# is data: the system parameter below (an ISO date), this default when it is not set.
TOKEN_END_PARAM = "l10n_pl_ksef.token_end_date"  # noqa: S105 - a parameter key
TOKEN_END_DEFAULT = date(2026, 12, 31)
TOKEN_RULE_START = date(2026, 2, 1)
OFFLINE_WARNING_DAYS = 30
SECRET_GROUP = "l10n_pl_ksef.group_ksef_manager"  # noqa: S105 - a group xml id, not a secret
SECRET_FIELDS = (
    "token_encrypted", "auth_key_encrypted", "auth_key_password_encrypted",
    "offline_key_encrypted", "offline_key_password_encrypted", "session_encrypted",
)
# Refresh the access token when it expires within this many seconds.
ACCESS_MARGIN = 60


class L10nPlKsefConfig(models.Model):
    _name = "l10n_pl_ksef.config"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _description = "KSeF settings of a company"
    _rec_name = "company_id"
    _order = "company_id"

    company_id = fields.Many2one(
        "res.company", required=True, readonly=True, index=True,
        ondelete="cascade", default=lambda self: self.env.company)
    country_code = fields.Char(related="company_id.country_code")
    environment = fields.Selection(
        ENVIRONMENTS, string="KSeF environment", required=True, default="test", readonly=True,
        help="Where invoices are sent. TEST and DEMO are for trials and have no legal effect; "
             "PROD is the real KSeF. The local emulator runs inside Odoo for evaluation. "
             "Change it with the \"Connect to KSeF\" wizard.")
    auth_method = fields.Selection(
        AUTH_METHODS, string="Authentication method", readonly=True)
    state = fields.Selection(
        [("not_connected", "Not connected"), ("connected", "Connected"),
         ("error", "Connection problem")],
        string="Connection state", required=True, default="not_connected", readonly=True)
    nip = fields.Char(
        string="Context NIP", compute="_compute_nip", store=True,
        help="The company's Polish tax id (NIP), taken from its Tax ID; KSeF works in its context.")
    nip_valid = fields.Boolean(string="Valid NIP", compute="_compute_nip", store=True)
    connected_nip = fields.Char(string="Connected NIP", readonly=True, copy=False)
    last_contact = fields.Datetime(string="Last successful contact", readonly=True, copy=False)
    last_error = fields.Text(string="Last error", readonly=True, copy=False)

    # token
    token_entered_on = fields.Date(string="Token entered on", readonly=True, copy=False)
    token_created_on = fields.Date(
        string="Token generated on", readonly=True, copy=False,
        help="The date the token was generated in the KSeF application, as given when connecting.")
    token_valid_until = fields.Date(
        string="Token usable until", compute="_compute_token_valid_until",
        help="KSeF tokens are transitional: a token generated from 1 February 2026 stops "
             "working after this date (the regulation in force says 31 December 2026; system "
             "parameter l10n_pl_ksef.token_end_date). Switch to a KSeF certificate before then.")
    # authentication certificate (public data)
    auth_cert_serial = fields.Char(string="Certificate serial number", readonly=True, copy=False)
    auth_cert_subject = fields.Char(string="Certificate holder", readonly=True, copy=False)
    auth_cert_valid_from = fields.Datetime(string="Certificate valid from", readonly=True, copy=False)
    auth_cert_valid_to = fields.Datetime(string="Certificate valid until", readonly=True, copy=False)
    # offline certificate
    offline_cert_name = fields.Char(string="Offline certificate name", readonly=True, copy=False)
    offline_cert_serial = fields.Char(string="Offline certificate serial number", readonly=True, copy=False)
    offline_cert_valid_from = fields.Datetime(string="Offline certificate valid from", readonly=True,
                                              copy=False)
    offline_cert_valid_to = fields.Datetime(string="Offline certificate valid until", readonly=True,
                                            copy=False)
    offline_cert_state = fields.Selection(
        [("none", "None"), ("valid", "Valid"), ("expiring", "Expires soon"), ("expired", "Expired")],
        string="Offline certificate", compute="_compute_offline_cert_state")
    offline_cert_days_left = fields.Integer(string="Offline certificate days left",
                                            compute="_compute_offline_cert_state")
    has_token = fields.Boolean(string="Token stored", readonly=True, copy=False)
    has_auth_certificate = fields.Boolean(string="Certificate stored", readonly=True, copy=False)
    has_offline_certificate = fields.Boolean(string="Offline certificate stored", readonly=True,
                                             copy=False)
    warning_message = fields.Text(string="Warnings", compute="_compute_warning_message")

    # --- secrets: ciphertext only, managers only -----------------------------
    token_encrypted = fields.Text(groups=SECRET_GROUP, copy=False, prefetch=False, readonly=True)
    auth_cert_pem = fields.Text(string="Authentication certificate (PEM)", groups=SECRET_GROUP,
                                copy=False, prefetch=False, readonly=True)
    auth_key_encrypted = fields.Text(groups=SECRET_GROUP, copy=False, prefetch=False, readonly=True)
    auth_key_password_encrypted = fields.Text(groups=SECRET_GROUP, copy=False, prefetch=False,
                                              readonly=True)
    offline_cert_pem = fields.Text(string="Offline certificate (PEM)", groups=SECRET_GROUP,
                                   copy=False, prefetch=False, readonly=True)
    offline_key_encrypted = fields.Text(groups=SECRET_GROUP, copy=False, prefetch=False, readonly=True)
    offline_key_password_encrypted = fields.Text(groups=SECRET_GROUP, copy=False, prefetch=False,
                                                 readonly=True)
    session_encrypted = fields.Text(groups=SECRET_GROUP, copy=False, prefetch=False, readonly=True)

    _company_uniq = models.Constraint(
        "unique(company_id)", "A company has one set of KSeF settings.")

    # --- computes ------------------------------------------------------------

    @api.depends("company_id.vat")
    def _compute_nip(self):
        for config in self:
            vat = config.company_id.vat
            config.nip = ksef_nip.normalize_nip(vat) if vat else False
            config.nip_valid = bool(vat) and ksef_nip.is_valid_nip(vat)

    @api.depends("token_created_on", "has_token")
    def _compute_token_valid_until(self):
        end = self._l10n_pl_ksef_token_end_date()
        for config in self:
            config.token_valid_until = end if config.has_token else False

    @api.model
    def _l10n_pl_ksef_token_end_date(self):
        """The last day KSeF tokens may be used: system parameter ``l10n_pl_ksef.token_end_date``
        (YYYY-MM-DD), else the regulation's 31 December 2026."""
        value = (self.env["ir.config_parameter"].sudo().get_param(TOKEN_END_PARAM) or "").strip()
        if value:
            try:
                return date.fromisoformat(value)
            except ValueError:
                _logger.info("KSeF: system parameter %s is not a date (YYYY-MM-DD): %r; using %s",
                             TOKEN_END_PARAM, value, TOKEN_END_DEFAULT)
        return TOKEN_END_DEFAULT

    @api.depends("offline_cert_valid_to", "has_offline_certificate")
    def _compute_offline_cert_state(self):
        now = fields.Datetime.now()
        for config in self:
            valid_to = config.offline_cert_valid_to
            if not config.has_offline_certificate or not valid_to:
                config.offline_cert_state = "none"
                config.offline_cert_days_left = 0
                continue
            config.offline_cert_days_left = max((valid_to - now).days, 0)
            if valid_to <= now:
                config.offline_cert_state = "expired"
            elif valid_to - now <= timedelta(days=OFFLINE_WARNING_DAYS):
                config.offline_cert_state = "expiring"
            else:
                config.offline_cert_state = "valid"

    @api.depends("state", "auth_method", "token_valid_until", "offline_cert_state",
                 "auth_cert_valid_to", "environment", "nip_valid")
    def _compute_warning_message(self):
        _ = self.env._
        now = fields.Datetime.now()
        for config in self:
            lines = []
            if not config.nip_valid:
                lines.append(_("The company's Tax ID is not a valid Polish NIP: correct it on the "
                               "company before connecting to KSeF."))
            if config.auth_method == "token" and config.state == "connected":
                lines.append(_(
                    "KSeF tokens generated from 1 February 2026 stop working after %(date)s. "
                    "Connect with a KSeF certificate before then.",
                    date=format_date(self.env, config.token_valid_until
                                     or self._l10n_pl_ksef_token_end_date())))
            if config.auth_method == "certificate" and config.auth_cert_valid_to:
                if config.auth_cert_valid_to <= now:
                    lines.append(_("The authentication certificate has expired: connect again "
                                   "with a new certificate."))
                elif config.auth_cert_valid_to - now <= timedelta(days=OFFLINE_WARNING_DAYS):
                    lines.append(_("The authentication certificate expires on %(date)s: request a "
                                   "new one in the KSeF application and connect again.",
                                   date=fields.Date.to_string(config.auth_cert_valid_to)))
            if config.offline_cert_state == "expiring":
                lines.append(_("The offline certificate expires in %(days)s days (%(date)s): "
                               "obtain a new one.", days=config.offline_cert_days_left,
                               date=fields.Date.to_string(config.offline_cert_valid_to)))
            elif config.offline_cert_state == "expired":
                lines.append(_("The offline certificate has expired: invoices issued offline "
                               "cannot be signed. Obtain a new one."))
            if config.environment == "prod" and config.state == "connected":
                lines.append(_("Connected to the PRODUCTION KSeF: invoices sent are legally binding."))
            config.warning_message = "\n".join(lines) or False

    # --- access helpers ------------------------------------------------------

    @api.model
    def _l10n_pl_ksef_for_company(self, company):
        """The settings record of ``company`` (sudo), created if missing."""
        company.ensure_one()
        config = self.sudo().with_context(active_test=False).search(
            [("company_id", "=", company.id)], limit=1)
        if not config:
            config = self.sudo().create({"company_id": company.id})
        return config

    def _l10n_pl_ksef_check_manager(self):
        if not self.env.su and not self.env.user.has_group(SECRET_GROUP):
            raise UserError(self.env._("Only KSeF managers can change the KSeF connection."))

    def _l10n_pl_ksef_secret(self, field_name):
        """Decrypt one secret field; bytes (b"" when empty). Never log the result."""
        self.ensure_one()
        try:
            return vault.decrypt(self.sudo()[field_name])
        except vault.VaultError as exc:
            raise UserError(ksef_i18n.error_message(self.env, exc)) from exc

    @api.model
    def _l10n_pl_ksef_encrypt(self, value):
        try:
            return vault.encrypt(value)
        except vault.VaultError as exc:
            raise UserError(ksef_i18n.error_message(self.env, exc)) from exc

    @api.model
    def _l10n_pl_ksef_raise_user_error(self, exc, action=None):
        """Raise a UserError carrying a core error's message (never a traceback)."""
        message = ksef_i18n.error_message(self.env, exc)
        if action:
            message = self.env._("%(action)s failed: %(message)s", action=action, message=message)
        raise UserError(message) from exc

    def _l10n_pl_ksef_check_nip(self):
        self.ensure_one()
        try:
            return ksef_nip.check_nip(self.company_id.vat, what=self.env._("The company's Tax ID"))
        except ksef_errors.InvalidNIPError as exc:
            self._l10n_pl_ksef_raise_user_error(exc)

    # --- environment and client ------------------------------------------------

    def _l10n_pl_ksef_api_target(self, environment=None):
        """What KSeFClient accepts for the environment: a name or a base URL."""
        self.ensure_one()
        environment = environment or self.environment
        if environment == "emulator":
            try:
                port = emulator_service.get_port(self.env)
            except ValueError as exc:
                raise UserError(str(exc)) from exc  # already translated (emulator_service)
            try:
                return emulator_service.ensure_running(port)
            except OSError as exc:
                raise UserError(self.env._(
                    "The local KSeF emulator could not be started on port %(port)s (%(error)s). "
                    "Choose another port in the system parameter %(param)s.",
                    port=port, error=exc.strerror or exc, param=emulator_service.PORT_PARAM)) from exc
        return environment.upper()

    @api.model
    def _l10n_pl_ksef_client_kwargs(self):
        """Keyword arguments for KSeFClient (timeout from ``l10n_pl_ksef.timeout``, seconds).

        A single number, not a (connect, read) tuple: Odoo's test harness wraps
        requests and only understands numeric timeouts.
        """
        timeout = self.env["ir.config_parameter"].sudo().get_param("l10n_pl_ksef.timeout", "30")
        try:
            timeout = float(timeout)
        except ValueError:
            timeout = 30.0
        return {"timeout": timeout}

    def _l10n_pl_ksef_new_client(self, environment=None):
        from ..ksef.client import KSeFClient

        return KSeFClient(self._l10n_pl_ksef_api_target(environment), **self._l10n_pl_ksef_client_kwargs())

    def _l10n_pl_ksef_login(self, client, nip):
        """Authenticate ``client`` with the stored credential."""
        self.ensure_one()
        if self.auth_method == "token":
            token = self._l10n_pl_ksef_secret("token_encrypted").decode()
            if not token:
                raise UserError(self.env._("No KSeF token is stored: connect to KSeF first."))
            client.authenticate_with_token(nip, token)
        elif self.auth_method == "certificate":
            cert = (self.sudo().auth_cert_pem or "").encode()
            key = self._l10n_pl_ksef_secret("auth_key_encrypted")
            password = self._l10n_pl_ksef_secret("auth_key_password_encrypted").decode() or None
            if not cert or not key:
                raise UserError(self.env._("No KSeF certificate is stored: connect to KSeF first."))
            client.authenticate_with_certificate(nip, cert, key, password)
        else:
            raise UserError(self.env._("The company %(company)s is not connected to KSeF. Use "
                                       "\"Connect to KSeF\" in Settings > Accounting > KSeF.",
                                       company=self.company_id.display_name))

    def _l10n_pl_ksef_load_session(self, client):
        """Put the stored access/refresh tokens into ``client``; False if none usable."""
        raw = self._l10n_pl_ksef_secret("session_encrypted")
        if not raw:
            return False
        try:
            data = json.loads(raw)
        except ValueError:
            return False
        if data.get("environment") != self.environment or data.get("nip") != self.connected_nip:
            return False
        from ..ksef.records import AuthTokens

        try:
            tokens = AuthTokens.from_dict(data["tokens"])
        except (KeyError, TypeError, ValueError):
            return False
        if tokens.refresh_expires_within(ACCESS_MARGIN):
            return False
        client.use_tokens(tokens, self.connected_nip)
        return True

    def _l10n_pl_ksef_save_session(self, client):
        """Keep the client's current tokens (encrypted) and the last contact time."""
        self.ensure_one()
        tokens = getattr(client, "tokens", None)
        vals = {"last_contact": fields.Datetime.now(), "state": "connected", "last_error": False}
        if tokens:
            payload = json.dumps({"environment": self.environment, "nip": self.connected_nip,
                                  "tokens": tokens.to_dict()})
            vals["session_encrypted"] = self._l10n_pl_ksef_encrypt(payload)
        self.sudo().write(vals)

    def _l10n_pl_ksef_get_client(self):
        """An authenticated KSeFClient for this company (see the module docstring)."""
        self.ensure_one()
        if self.state == "not_connected" or not self.auth_method:
            raise UserError(self.env._(
                "The company %(company)s is not connected to KSeF. Use \"Connect to KSeF\" in "
                "Settings > Accounting > KSeF.", company=self.company_id.display_name))
        nip = self.connected_nip or self._l10n_pl_ksef_check_nip()
        client = self._l10n_pl_ksef_new_client()
        try:
            if self._l10n_pl_ksef_load_session(client):
                try:
                    client.refresh_if_needed()
                    return client
                except (ksef_errors.KSeFUnauthorized, ksef_errors.KSeFBadRequest,
                        ksef_errors.KSeFForbidden, ksef_errors.KSeFAuthError):
                    client.tokens = None  # refresh token revoked or expired: log in again
            self._l10n_pl_ksef_login(client, nip)
        except ksef_errors.KSeFError as exc:
            self.sudo().write({"state": "error", "last_error": ksef_i18n.error_message(self.env, exc)})
            raise
        self._l10n_pl_ksef_save_session(client)
        return client

    @contextlib.contextmanager
    def _l10n_pl_ksef_client(self, environment=None, login=True):
        """``with config._l10n_pl_ksef_client() as client:``, the one way to get a client.

        ``login=True``: authenticated with the stored session or credential; afterwards (also
        when the work failed) its tokens, refreshed or new, are saved and the last contact is
        recorded. ``login=False``: a client for ``environment`` that is not logged in; nothing
        is saved (the wizard stores a credential only once it has worked). The HTTP session
        is closed in both cases.
        """
        client = self._l10n_pl_ksef_get_client() if login else self._l10n_pl_ksef_new_client(environment)
        try:
            yield client
        finally:
            try:
                if login and getattr(client, "tokens", None):
                    self._l10n_pl_ksef_save_session(client)
            finally:
                client.close()

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

    # --- storing credentials (called by the wizard after a successful test) ----

    def _l10n_pl_ksef_store_connection(self, environment, method, nip, client, token=None,
                                       token_created_on=None, credentials=None, cert_bytes=None,
                                       key_bytes=None, key_password=None):
        """Store a credential that has just authenticated successfully."""
        self.ensure_one()
        self._l10n_pl_ksef_check_manager()
        today = fields.Date.context_today(self)
        vals = {
            "environment": environment,
            "auth_method": method,
            "state": "connected",
            "connected_nip": nip,
            "last_contact": fields.Datetime.now(),
            "last_error": False,
            "session_encrypted": False,
        }
        vals.update(self._l10n_pl_ksef_auth_reset_vals())
        if method == "token":
            vals.update({
                "token_encrypted": self._l10n_pl_ksef_encrypt(token),
                "token_entered_on": today,
                "token_created_on": token_created_on or today,
                "has_token": True,
            })
        else:
            vals.update({
                "auth_cert_pem": ksef_certs.certificate_to_pem(credentials.certificate).decode(),
                "auth_key_encrypted": self._l10n_pl_ksef_encrypt(key_bytes),
                "auth_key_password_encrypted": self._l10n_pl_ksef_encrypt(key_password),
                "auth_cert_serial": credentials.serial,
                "auth_cert_subject": "%s %s" % tuple(credentials.identity),
                "auth_cert_valid_from": _naive(credentials.valid_from),
                "auth_cert_valid_to": _naive(credentials.valid_to),
                "has_auth_certificate": True,
            })
        self.sudo().with_context(l10n_pl_ksef_prod_confirmed=True).write(vals)
        self._l10n_pl_ksef_save_session(client)
        env_label = dict(self._fields["environment"]._description_selection(self.env))[environment]
        method_label = dict(self._fields["auth_method"]._description_selection(self.env))[method]
        self.sudo().message_post(body=self.env._(
            "Connected to KSeF (%(env)s, NIP %(nip)s) with: %(method)s, by %(user)s.",
            env=env_label, nip=nip, method=method_label, user=self.env.user.name))

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

    @api.model
    def _l10n_pl_ksef_auth_reset_vals(self):
        return {
            "token_encrypted": False, "token_entered_on": False, "token_created_on": False,
            "has_token": False, "auth_cert_pem": False, "auth_key_encrypted": False,
            "auth_key_password_encrypted": False, "auth_cert_serial": False,
            "auth_cert_subject": False, "auth_cert_valid_from": False, "auth_cert_valid_to": False,
            "has_auth_certificate": False,
        }

    def write(self, vals):
        if vals.get("environment") == "prod" and not self.env.context.get("l10n_pl_ksef_prod_confirmed"):
            raise UserError(self.env._(
                "The production KSeF can only be chosen in the \"Connect to KSeF\" wizard, with an "
                "explicit confirmation."))
        return super().write(vals)

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

    # --- buttons ---------------------------------------------------------------

    def _l10n_pl_ksef_wizard_action(self, step):
        self.ensure_one()
        self._l10n_pl_ksef_check_manager()
        wizard = self.env["l10n_pl_ksef.connect.wizard"].create({
            "config_id": self.id,
            "step": step,
            "environment": self.environment,
            "auth_method": self.auth_method or "token",
        })
        return wizard._l10n_pl_ksef_reopen()

    def action_l10n_pl_ksef_open_connect_wizard(self):
        return self._l10n_pl_ksef_wizard_action("connect")

    def action_l10n_pl_ksef_open_offline_wizard(self):
        return self._l10n_pl_ksef_wizard_action("offline")

    def action_l10n_pl_ksef_test_connection(self):
        self.ensure_one()
        try:
            with self._l10n_pl_ksef_client():
                pass
        except ksef_errors.KSeFError as exc:
            self._l10n_pl_ksef_raise_user_error(exc, action=self.env._("Connecting to KSeF"))
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {"type": "success", "title": self.env._("KSeF"),
                       "message": self.env._("The connection to KSeF works.")},
        }

    def action_l10n_pl_ksef_disconnect(self):
        """Remove every stored secret of the company's authentication (and log out)."""
        self._l10n_pl_ksef_check_manager()
        for config in self.sudo():
            if config.session_encrypted:
                try:
                    with config._l10n_pl_ksef_client(login=False) as client:
                        if config._l10n_pl_ksef_load_session(client):
                            client.logout()
                except (ksef_errors.KSeFError, UserError) as exc:
                    _logger.info("KSeF: logout at disconnect failed: %s", exc.__class__.__name__)
            vals = config._l10n_pl_ksef_auth_reset_vals()
            vals.update({"state": "not_connected", "auth_method": False, "connected_nip": False,
                         "session_encrypted": False, "last_error": False})
            config.write(vals)
            config.message_post(body=self.env._(
                "Disconnected from KSeF by %(user)s; the stored token, certificate and keys were "
                "removed.", user=self.env.user.name))
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

    # --- expiry warnings ---------------------------------------------------------------

    def _l10n_pl_ksef_expiry_warnings(self, today=None):
        """``[(summary, note)]`` of the credentials expiring within 30 days (or expired)."""
        self.ensure_one()
        today = today or fields.Date.context_today(self)
        limit = today + timedelta(days=OFFLINE_WARNING_DAYS)
        warnings = []
        if self.has_offline_certificate and self.offline_cert_valid_to \
                and self.offline_cert_valid_to.date() <= limit:
            warnings.append((self.env._("KSeF offline certificate expires on %(date)s",
                                        date=fields.Date.to_string(self.offline_cert_valid_to)),
                             self.env._("Obtain a new offline certificate (Offline certificate button).")))
        if self.state == "connected" and self.auth_method == "certificate" \
                and self.auth_cert_valid_to and self.auth_cert_valid_to.date() <= limit:
            warnings.append((self.env._("KSeF authentication certificate expires on %(date)s",
                                        date=fields.Date.to_string(self.auth_cert_valid_to)),
                             self.env._("Request a new certificate in the KSeF application and "
                                        "connect again.")))
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
        """Daily: schedule a warning activity for the KSeF managers 30 days before expiry."""
        activity_type = self.env.ref("mail.mail_activity_data_warning", raise_if_not_found=False)
        for config in self.sudo().search([("company_id", "!=", False)]):
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

        See :mod:`odoo.addons.l10n_pl_ksef.models.vault` for where the key lives.
        """
        if not self.env.is_admin():
            raise UserError(self.env._("Only administrators can rotate the KSeF encryption key."))
        configs = self.sudo().search([("company_id", "!=", False)])
        plain = {config.id: {name: config._l10n_pl_ksef_secret(name) for name in SECRET_FIELDS}
                 for config in configs}
        try:
            new_key, commit = vault.prepare_rotation()
        except (OSError, vault.VaultError) as exc:
            raise UserError(ksef_i18n.error_message(self.env, exc)) from exc
        for config in configs:
            config.write({name: vault.encrypt(value, key=new_key) if value else False
                          for name, value in plain[config.id].items()})
        self.env.flush_all()
        commit()
        _logger.info("KSeF: secrets of %d companies re-encrypted", len(configs))
        return True


def _naive(value):
    """Odoo stores naive UTC datetimes."""
    if value is None:
        return False
    if value.tzinfo is not None:
        from datetime import timezone

        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def b64_to_bytes(value):
    """Decode an Odoo Binary field value (base64 str/bytes) into raw bytes."""
    if not value:
        return b""
    return base64.b64decode(value)
