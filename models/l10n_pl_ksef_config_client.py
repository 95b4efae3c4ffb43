"""KSeF settings: secrets, the client, the login cache, storing a connection.

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
* ``config._l10n_pl_ksef_raise_user_error(exc)`` turns a core error into a
  UserError with the core's message (what happened, what to do).
* No worker waits for KSeF to check a login: the client looks, pauses once (``auth_grace``)
  and looks again; if KSeF is still checking, ``KSeFAuthPending`` ends the work (crons
  reschedule themselves in a few seconds, buttons say "try again in a moment") and the
  pending login is kept in this process's memory only (its authentication token is a
  secret) for the next attempt to continue it (``resume_login``) instead of starting over.
"""
import contextlib
import json
import logging
import threading
import time

import psycopg2.errors
from odoo import api, fields, models
from odoo.exceptions import UserError

from ..ksef import certs as ksef_certs
from ..ksef import errors as ksef_errors
from ..ksef import nip as ksef_nip
from ..tools import emulator_service, ksef_i18n, vault
from .l10n_pl_ksef_config import ACCESS_MARGIN, _naive

_logger = logging.getLogger(__name__)

#: logins KSeF was still checking: (database, key) -> (PendingLogin, monotonic time). In memory
#: only; another worker simply logs in anew.
_PENDING_LOGINS = {}
_PENDING_LOCK = threading.Lock()
PENDING_LOGIN_TTL = 300
#: seconds a login pauses (once) for KSeF to finish checking it
AUTH_GRACE = 1.0


def pending_login(dbname, key, pending=None, drop=False):
    """Get (or with ``pending`` keep, with ``drop`` forget) a login KSeF was still checking."""
    with _PENDING_LOCK:
        now = time.monotonic()
        for old in [k for k, (_p, at) in _PENDING_LOGINS.items() if now - at > PENDING_LOGIN_TTL]:
            del _PENDING_LOGINS[old]
        if drop:
            _PENDING_LOGINS.pop((dbname, key), None)
            return None
        if pending is not None:
            _PENDING_LOGINS[(dbname, key)] = (pending, now)
            return pending
        found = _PENDING_LOGINS.get((dbname, key))
        return found[0] if found else None


def _identity_label(identity):
    """How the certificate names its holder, as a user reads it: "NIP 5265877635",
    "PESEL 80010112345", "SHA-256 <fingerprint>" (not the API's type names "Nip", "Pesel")."""
    kind, value = identity
    return "%s %s" % ({"Nip": "NIP", "Pesel": "PESEL", "Fingerprint": "SHA-256"}.get(kind, kind),
                      value)


class L10nPlKsefConfig(models.Model):
    _inherit = "l10n_pl_ksef.config"

    # --- secrets ---------------------------------------------------------------

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
        requests and only understands numeric timeouts. ``max_retry_after=0``: an Odoo worker
        never sleeps for KSeF's Retry-After; a 429 is raised at once and the cron reschedules
        itself (send, import) or the user is told when to try again (buttons, wizard).
        """
        timeout = self.env["ir.config_parameter"].sudo().get_param("l10n_pl_ksef.timeout", "30")
        try:
            timeout = float(timeout)
        except ValueError:
            timeout = 30.0
        return {"timeout": timeout, "max_retry_after": 0, "auth_grace": AUTH_GRACE}

    def _l10n_pl_ksef_new_client(self, environment=None):
        from ..ksef.client import KSeFClient

        return KSeFClient(self._l10n_pl_ksef_api_target(environment), **self._l10n_pl_ksef_client_kwargs())

    def _l10n_pl_ksef_login(self, client, nip):
        """Authenticate ``client`` with the stored credential, continuing a login KSeF was still
        checking (``KSeFAuthPending``) rather than starting another one."""
        self.ensure_one()
        key = ("config", self.id, self.environment, self.auth_method, nip)
        with self._l10n_pl_ksef_pending_login(key, client) as resumed:
            if resumed:
                return
            self._l10n_pl_ksef_login_anew(client, nip)

    @contextlib.contextmanager
    def _l10n_pl_ksef_pending_login(self, key, client):
        """``with ... as resumed:`` continues the pending login of ``key`` when there is one
        (``resumed`` True once it worked); a login started inside the block that KSeF is still
        checking is kept for the next attempt."""
        dbname = self.env.cr.dbname
        pending = pending_login(dbname, key)
        if pending is not None:
            try:
                client.resume_login(pending)
            except ksef_errors.KSeFAuthPending:
                raise
            except ksef_errors.KSeFError:
                pending_login(dbname, key, drop=True)    # failed or expired: log in anew
            else:
                pending_login(dbname, key, drop=True)
                yield True
                return
        try:
            yield False
        except ksef_errors.KSeFAuthPending as exc:
            pending_login(dbname, key, pending=exc.pending)
            raise

    def _l10n_pl_ksef_login_anew(self, client, nip):
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
        elif self.auth_method == "office":
            office = self.sudo().office_id
            if not office:
                raise UserError(self.env._(
                    "No accounting office credential is chosen for %(company)s: connect again "
                    "with \"Connect to KSeF\" (Through the accounting office).",
                    company=self.company_id.display_name))
            office._l10n_pl_ksef_login(client, nip)
        else:
            raise UserError(self.env._("The company %(company)s is not connected to KSeF. Use "
                                       "\"Connect to KSeF\" in %(settings)s.",
                                       company=self.company_id.display_name,
                                       settings=ksef_i18n.settings_path(self.env)))

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
        try:
            with self.env.cr.savepoint():
                # another cron runner may have saved this company's tokens after our snapshot
                # began: then its tokens stay (ours are equally valid); never an error for the log
                self.env.cr.execute("SELECT id FROM l10n_pl_ksef_config WHERE id = %s "
                                    "FOR NO KEY UPDATE NOWAIT", [self.id], log_exceptions=False)
                self.sudo().write(vals)
        except (psycopg2.errors.LockNotAvailable, psycopg2.errors.SerializationFailure):
            self.invalidate_recordset()
            _logger.info("KSeF: %s: the session was saved by another run", self.company_id.name)

    def _l10n_pl_ksef_get_client(self):
        """An authenticated KSeFClient for this company (see the module docstring)."""
        self.ensure_one()
        if self.state == "not_connected" or not self.auth_method:
            raise UserError(self.env._(
                "The company %(company)s is not connected to KSeF. Use \"Connect to KSeF\" in "
                "%(settings)s.", company=self.company_id.display_name,
                settings=ksef_i18n.settings_path(self.env)))
        nip = self.connected_nip or self._l10n_pl_ksef_check_nip()
        client = self._l10n_pl_ksef_new_client()
        try:
            if self._l10n_pl_ksef_load_session(client):
                try:
                    client.refresh_if_needed()
                    if self.auth_method == "office":
                        # KSeF invalidates the tokens when the client revokes the office's
                        # permissions: log in anew then, so that KSeF says why (415)
                        client.relogin_with(lambda: self._l10n_pl_ksef_login_anew(client, nip))
                    return client
                except (ksef_errors.KSeFUnauthorized, ksef_errors.KSeFBadRequest,
                        ksef_errors.KSeFForbidden, ksef_errors.KSeFAuthError):
                    client.tokens = None  # refresh token revoked or expired: log in again
            self._l10n_pl_ksef_login(client, nip)
        except ksef_errors.KSeFAuthPending:
            client.close()
            raise                               # nothing failed: KSeF is still checking
        except ksef_errors.KSeFError as exc:
            said = self._l10n_pl_ksef_office_error(exc)
            self.sudo().write({"state": "error", "last_error": ksef_i18n.error_message(self.env, said)})
            if said is exc:
                raise
            raise said from exc
        self._l10n_pl_ksef_save_session(client)
        return client

    def _l10n_pl_ksef_office_error(self, exc):
        """``exc``, or for a company connected through an accounting office KSeF's refusal of
        the office in this company's context said with the missing permission and how the
        client grants it (same error class, so every caller handles it as before)."""
        self.ensure_one()
        if self.auth_method != "office" or getattr(exc, "missing_permissions", None):
            return exc
        office = self.sudo().office_id
        translated = office and office._l10n_pl_ksef_permission_error(
            exc, self.company_id, self.connected_nip or self.nip)
        return translated or exc

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
        except ksef_errors.KSeFError as exc:
            translated = self._l10n_pl_ksef_office_error(exc) if login else exc
            if translated is exc:
                raise
            if isinstance(translated, ksef_errors.KSeFAuthError):
                # the login again (tokens invalidated by KSeF) was refused: the stored session
                # is worthless and the company's connection has a problem, said on it
                client.tokens = None
                self.sudo().write({"state": "error", "session_encrypted": False,
                                   "last_error": ksef_i18n.error_message(self.env, translated)})
            raise translated from exc
        finally:
            try:
                # not in a failed transaction (e.g. a serialization failure on its way up): the
                # save could only fail again and hide the real error; the tokens stored earlier
                # are used or a new login is made next time
                if login and getattr(client, "tokens", None) and not _transaction_failed(self.env.cr):
                    self._l10n_pl_ksef_save_session(client)
            finally:
                client.close()

    # --- storing credentials (called by the wizard after a successful test) ----

    def _l10n_pl_ksef_store_connection(self, environment, method, nip, client, token=None,
                                       token_created_on=None, credentials=None, cert_bytes=None,
                                       key_bytes=None, key_password=None, office=None):
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
        if method == "office":
            vals["office_id"] = office.id
        elif method == "token":
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
                "auth_cert_subject": _identity_label(credentials.identity),
                "auth_cert_valid_from": _naive(credentials.valid_from),
                "auth_cert_valid_to": _naive(credentials.valid_to),
                "has_auth_certificate": True,
            })
        self.sudo().with_context(l10n_pl_ksef_prod_confirmed=True).write(vals)
        self._l10n_pl_ksef_save_session(client)
        env_label = dict(self._fields["environment"]._description_selection(self.env))[environment]
        method_label = dict(self._fields["auth_method"]._description_selection(self.env))[method]
        if method == "office":
            self.sudo().message_post(body=self.env._(
                "Connected to KSeF – %(env)s, NIP %(nip)s – through the accounting office %(office)s "
                "(NIP %(office_nip)s), by %(user)s.", env=env_label, nip=nip, office=office.name,
                office_nip=office.nip, user=self.env.user.name))
            return
        self.sudo().message_post(body=self.env._(
            "Connected to KSeF – %(env)s, NIP %(nip)s – with: %(method)s, by %(user)s.",
            env=env_label, nip=nip, method=method_label, user=self.env.user.name))

    @api.model
    def _l10n_pl_ksef_auth_reset_vals(self):
        return {
            "token_encrypted": False, "token_entered_on": False, "token_created_on": False,
            "has_token": False, "auth_cert_pem": False, "auth_key_encrypted": False,
            "auth_key_password_encrypted": False, "auth_cert_serial": False,
            "auth_cert_subject": False, "auth_cert_valid_from": False, "auth_cert_valid_to": False,
            "has_auth_certificate": False, "office_id": False,
        }


def _transaction_failed(cr):
    """The cursor's transaction is aborted (an error is on its way up, a rollback follows)."""
    return cr._cnx.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_INERROR
