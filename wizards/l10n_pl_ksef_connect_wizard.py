"""The "Connect to KSeF" wizard: token or certificate, then the offline certificate.

Secrets typed or uploaded in the wizard (token, private keys, passwords) are
write-only fields: they are encrypted by the vault as soon as the web client
saves the wizard, so no plain secret is ever written to the database, not
even in this transient table.
"""
import base64
import hashlib

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools.misc import format_date

from ..ksef import certs as ksef_certs
from ..ksef import errors as ksef_errors
from ..models.l10n_pl_ksef_config import AUTH_METHODS, ENVIRONMENTS, _naive
from ..tools import ksef_i18n, vault

# write-only field -> encrypted storage field
WRITE_ONLY = {
    "token": "token_vault",
    "auth_key_file": "auth_key_vault",
    "auth_key_password": "auth_key_password_vault",
    "offline_key_file": "offline_key_vault",
    "offline_key_password": "offline_key_password_vault",
    "office_key_file": "office_key_vault",
    "office_key_password": "office_key_password_vault",
}
MANAGER = "l10n_pl_ksef.group_ksef_manager"


class L10nPlKsefConnectWizard(models.TransientModel):
    _name = "l10n_pl_ksef.connect.wizard"
    _description = "Connect a company to KSeF"

    config_id = fields.Many2one("l10n_pl_ksef.config", required=True, ondelete="cascade",
                                readonly=True)
    company_id = fields.Many2one(related="config_id.company_id")
    company_vat = fields.Char(related="config_id.company_id.vat", string="Company Tax ID")
    step = fields.Selection([("connect", "Connect"), ("offline", "Offline certificate")],
                            default="connect", required=True)
    environment = fields.Selection(ENVIRONMENTS, string="KSeF environment", required=True,
                                   default="test")
    confirm_production = fields.Boolean(
        string="I confirm: use the production KSeF",
        help="Invoices sent to the production KSeF are legally binding.")
    auth_method = fields.Selection(AUTH_METHODS, string="Authentication method", required=True,
                                   default="token")
    result_message = fields.Text(readonly=True)
    config_state = fields.Selection(related="config_id.state", string="Current connection state")
    config_auth_method = fields.Selection(related="config_id.auth_method",
                                          string="Currently connected with")
    token_horizon = fields.Date(
        default=lambda self: self.env["l10n_pl_ksef.config"]._l10n_pl_ksef_token_end_date(),
        readonly=True)

    # token
    token = fields.Char(
        string="KSeF token", compute="_compute_write_only", inverse="_inverse_write_only",
        help="Generate the token in the KSeF taxpayer application (Aplikacja Podatnika KSeF), "
             "section Tokens: give it a name such as \"Odoo\" and tick the permissions to issue "
             "invoices (Wystawianie faktur) and to view invoices (Przeglądanie faktur). "
             "The token is shown only once: copy it here.")
    token_created_on = fields.Date(
        string="Token generated on", default=fields.Date.context_today,
        help="When the token was generated in the KSeF application.")
    token_vault = fields.Text(groups=MANAGER)
    has_token_input = fields.Boolean(compute="_compute_has_input")

    # authentication certificate
    auth_cert_file = fields.Binary(string="Certificate (.crt/.cer/.pem)", attachment=False)
    auth_cert_filename = fields.Char()
    auth_key_file = fields.Binary(string="Private key (.key)", compute="_compute_write_only",
                                  inverse="_inverse_write_only")
    auth_key_filename = fields.Char()
    auth_key_password = fields.Char(string="Private key password", compute="_compute_write_only",
                                    inverse="_inverse_write_only")
    auth_key_vault = fields.Text(groups=MANAGER)
    auth_key_password_vault = fields.Text(groups=MANAGER)
    has_auth_key_input = fields.Boolean(compute="_compute_has_input")

    # through the accounting office (l10n_pl_ksef.office: its own certificate, the clients'
    # contexts); its record rule shows only credentials whose client companies the user may all
    # access
    office_mode = fields.Selection(
        [("existing", "Use a stored office credential"),
         ("new", "Add the office's credential")],
        string="Office credential", default="existing", required=True)
    office_id = fields.Many2one(
        "l10n_pl_ksef.office", string="Accounting office credential",
        domain="[('environment', '=', environment)]",
        help="The accounting office's own KSeF certificate, stored once for all its clients. "
             "This company logs in with it in its own context (its NIP).")
    new_office_name = fields.Char(string="Accounting office name")
    new_office_nip = fields.Char(string="Accounting office NIP",
                                 help="The office's own NIP: the clients grant their KSeF "
                                      "permissions to it.")
    office_cert_file = fields.Binary(string="Office's KSeF certificate (.crt/.cer/.pem)",
                                     attachment=False)
    office_cert_filename = fields.Char()
    office_key_file = fields.Binary(string="Office's private key (.key)",
                                    compute="_compute_write_only", inverse="_inverse_write_only")
    office_key_filename = fields.Char()
    office_key_password = fields.Char(string="Office's private key password",
                                      compute="_compute_write_only", inverse="_inverse_write_only")
    office_key_vault = fields.Text(groups=MANAGER)
    office_key_password_vault = fields.Text(groups=MANAGER)
    has_office_key_input = fields.Boolean(compute="_compute_has_input")

    # offline certificate
    offline_source = fields.Selection(
        [("upload", "Upload a certificate obtained in the KSeF application"),
         ("generate", "Request it from KSeF now (key generated in Odoo)")],
        string="Offline certificate", default="upload", required=True)
    offline_cert_name = fields.Char(
        string="Certificate name", default="Odoo offline",
        help="The name given to the certificate in KSeF (5-100 characters: letters, digits, "
             "spaces, _ and -).")
    offline_cert_file = fields.Binary(string="Offline certificate (.crt/.cer/.pem)",
                                      attachment=False)
    offline_cert_filename = fields.Char()
    offline_key_file = fields.Binary(string="Offline private key (.key)",
                                     compute="_compute_write_only", inverse="_inverse_write_only")
    offline_key_filename = fields.Char()
    offline_key_password = fields.Char(string="Offline key password", compute="_compute_write_only",
                                       inverse="_inverse_write_only")
    offline_key_vault = fields.Text(groups=MANAGER)
    offline_key_password_vault = fields.Text(groups=MANAGER)
    has_offline_key_input = fields.Boolean(compute="_compute_has_input")

    # --- write-only secrets ---------------------------------------------------

    def _compute_write_only(self):
        for wizard in self:
            for name in WRITE_ONLY:
                wizard[name] = False

    def _inverse_write_only(self):
        for wizard in self:
            vals = {}
            for name, storage in WRITE_ONLY.items():
                value = wizard[name]
                if value:
                    if isinstance(value, bytes):
                        value = value.decode()
                    try:
                        vals[storage] = vault.encrypt(value)
                    except vault.VaultError as exc:
                        raise UserError(ksef_i18n.error_message(self.env, exc)) from exc
            if vals:
                wizard.sudo().write(vals)
        # never send a secret back to the browser, even right after it was typed
        self.invalidate_recordset(fnames=list(WRITE_ONLY))

    @api.depends("token_vault", "auth_key_vault", "offline_key_vault", "office_key_vault")
    def _compute_has_input(self):
        for wizard in self.sudo():
            wizard.has_office_key_input = bool(wizard.office_key_vault)
            wizard.has_token_input = bool(wizard.token_vault)
            wizard.has_auth_key_input = bool(wizard.auth_key_vault)
            wizard.has_offline_key_input = bool(wizard.offline_key_vault)

    def _secret(self, name, binary=False):
        """Plain value of a write-only field (bytes for files), in memory only."""
        try:
            value = vault.decrypt(self.sudo()[WRITE_ONLY[name]])
        except vault.VaultError as exc:
            raise UserError(ksef_i18n.error_message(self.env, exc)) from exc
        if binary:
            return base64.b64decode(value) if value else b""
        return value.decode() if value else ""

    def _wipe(self):
        self.sudo().write(dict.fromkeys(WRITE_ONLY.values(), False))

    # --- helpers ----------------------------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su and not self.env.user.has_group(MANAGER):
            raise UserError(self.env._("Only KSeF managers can connect a company to KSeF."))
        return super().create(vals_list)

    def _l10n_pl_ksef_reopen(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
            "name": self.env._("Connect to KSeF"),
        }

    def _check_environment(self):
        if self.environment == "prod" and not self.confirm_production:
            raise UserError(self.env._(
                "You chose the production KSeF, where invoices are legally binding. Tick the "
                "confirmation box to continue, or choose TEST or DEMO to try things out."))

    def _connected(self, message):
        self._wipe()
        self.write({"step": "offline", "result_message": message})
        return self._l10n_pl_ksef_reopen()

    def _authenticate(self, environment, method, nip, **kwargs):
        """Authenticate with the given credential; store it only when it works."""
        config = self.config_id
        action = self.env._("Connecting to KSeF")
        if method == "office":
            return self._authenticate_office(environment, nip, action, **kwargs)
        secret = kwargs.get("token") or kwargs.get("cert_bytes") or b""
        key = ("wizard", config.id, environment, method, nip,
               hashlib.sha256(secret.encode() if isinstance(secret, str) else secret).hexdigest())
        with config._l10n_pl_ksef_client(environment, login=False) as client:
            try:
                # a login KSeF was still checking at the previous click is continued
                with config._l10n_pl_ksef_pending_login(key, client) as resumed:
                    if resumed:
                        pass
                    elif method == "token":
                        client.authenticate_with_token(nip, kwargs["token"])
                    else:
                        client.authenticate_with_certificate(
                            nip, kwargs["cert_bytes"], kwargs["key_bytes"],
                            kwargs.get("key_password") or None)
            except ksef_errors.KSeFError as exc:
                config._l10n_pl_ksef_raise_user_error(exc, action=action)
            config._l10n_pl_ksef_store_connection(environment, method, nip, client, **kwargs)

    def _authenticate_office(self, environment, nip, action, office, credentials=None,
                             key_bytes=None, key_password=None):
        """Log in with the office's certificate in the company's context (``nip``); a refusal
        (no permission granted by the client) is said in the office's terms. ``credentials``:
        a certificate just uploaded for ``office`` (stored on it only once the login worked)."""
        config = self.config_id
        key = ("wizard-office", config.id, environment, office.id or office.nip, nip,
               credentials.serial if credentials else "")
        with config._l10n_pl_ksef_client(environment, login=False) as client:
            try:
                with config._l10n_pl_ksef_pending_login(key, client) as resumed:
                    if resumed:
                        pass
                    elif credentials is not None:
                        client.authenticate_with_certificate(nip, credentials=credentials)
                    else:
                        office._l10n_pl_ksef_login(client, nip)
            except ksef_errors.KSeFError as exc:
                said = office._l10n_pl_ksef_permission_error(exc, config.company_id, nip) or exc
                config._l10n_pl_ksef_raise_user_error(said, action=action)
            if not office.id:
                office = self.env["l10n_pl_ksef.office"].create({"name": office.name, "nip": office.nip,
                                        "environment": environment,
                                        "company_ids": [(6, 0, config.company_id.ids)]})
            elif config.company_id not in office.company_ids:
                office.write({"company_ids": [(4, config.company_id.id)]})
            if credentials is not None:
                office._l10n_pl_ksef_store_certificate(credentials, key_bytes, key_password)
            config._l10n_pl_ksef_store_connection(environment, "office", nip, client,
                                                  office=office)
        return office

    def _office_to_use(self):
        """The office credential chosen, or a new one (not saved yet) with its uploaded
        certificate: ``(office, credentials, key_bytes, key_password)``."""
        Office = self.env["l10n_pl_ksef.office"]
        if self.office_mode == "existing":
            if not self.office_id:
                raise UserError(self.env._(
                    "Choose the accounting office's credential, or add it (\"Add the office's "
                    "credential\")."))
            office = self.office_id
            if office.environment != self.environment:
                raise UserError(self.env._(
                    "The credential of %(office)s is for another KSeF environment (%(office_env)s); "
                    "choose the same environment or another credential.", office=office.name,
                    office_env=dict(office._fields["environment"]._description_selection(
                        self.env))[office.environment]))
            if not office.has_auth_certificate:
                raise UserError(self.env._(
                    "No KSeF certificate is stored for the accounting office %(office)s: add the "
                    "office's credential with its certificate.", office=office.name))
            return office, None, None, None
        from ..ksef import nip as ksef_nip

        name = (self.new_office_name or "").strip()
        office_nip = ksef_nip.normalize_nip(self.new_office_nip or "")
        if not name or not ksef_nip.is_valid_nip(office_nip):
            raise UserError(self.env._(
                "Give the accounting office's name and its NIP (10 digits with a correct check "
                "digit): the clients grant their KSeF permissions to that NIP."))
        cert_bytes = base64.b64decode(self.office_cert_file) if self.office_cert_file else b""
        key_bytes = self._secret("office_key_file", binary=True)
        password = self._secret("office_key_password")
        if not cert_bytes or not key_bytes:
            raise UserError(self.env._(
                "Upload the accounting office's KSeF certificate (.crt/.cer/.pem) and its private "
                "key (.key)."))
        try:
            credentials = ksef_certs.load_credentials(
                cert_bytes, key_bytes, password or None, expected_type=ksef_certs.AUTHENTICATION)
        except ksef_errors.KSeFError as exc:
            self.config_id._l10n_pl_ksef_raise_user_error(exc)
        office = Office.new({"name": name, "nip": office_nip, "environment": self.environment})
        office._l10n_pl_ksef_check_certificate(credentials)
        return office, credentials, key_bytes, password

    def _connect_through_office(self, nip, env_label):
        office, credentials, key_bytes, password = self._office_to_use()
        office = self._authenticate(self.environment, "office", nip, office=office,
                                    credentials=credentials, key_bytes=key_bytes,
                                    key_password=password)
        self.office_id = office
        return self.env._(
            "Connected to KSeF – %(env)s – for NIP %(nip)s through the accounting office %(office)s "
            "(NIP %(office_nip)s), with the office's certificate in this company's context.\n"
            "Offline invoices still need this company's own Offline certificate (KOD II carries "
            "the seller's context): add it in the next step.",
            env=env_label, nip=nip, office=office.name, office_nip=office.nip)

    # --- buttons ------------------------------------------------------------------

    def action_l10n_pl_ksef_connect(self):
        """Test the credential against the chosen environment; store it when it works."""
        self.ensure_one()
        self._check_environment()
        nip = self.config_id._l10n_pl_ksef_check_nip()
        env_label = dict(self._fields["environment"]._description_selection(self.env))[self.environment]
        if self.auth_method == "office":
            message = self._connect_through_office(nip, env_label)
        elif self.auth_method == "token":
            token = self._secret("token").strip()
            if not token:
                raise UserError(self.env._("Paste the KSeF token generated in the KSeF application."))
            self._authenticate(self.environment, "token", nip, token=token,
                               token_created_on=self.token_created_on)
            message = self.env._(
                "Connected to KSeF – %(env)s – with a token for NIP %(nip)s.\n"
                "Remember: tokens generated from 1 February 2026 stop working after %(date)s. "
                "Switch to a KSeF certificate before then.",
                env=env_label, nip=nip, date=format_date(
                    self.env, self.env["l10n_pl_ksef.config"]._l10n_pl_ksef_token_end_date()))
        else:
            cert_bytes = base64.b64decode(self.auth_cert_file) if self.auth_cert_file else b""
            key_bytes = self._secret("auth_key_file", binary=True)
            password = self._secret("auth_key_password")
            if not cert_bytes or not key_bytes:
                raise UserError(self.env._(
                    "Upload both the certificate (.crt/.cer/.pem) and its private key (.key)."))
            try:
                credentials = ksef_certs.load_credentials(
                    cert_bytes, key_bytes, password or None, expected_type=ksef_certs.AUTHENTICATION)
            except ksef_errors.KSeFError as exc:
                self.config_id._l10n_pl_ksef_raise_user_error(exc)
            self._authenticate(self.environment, "certificate", nip, credentials=credentials,
                               cert_bytes=cert_bytes, key_bytes=key_bytes, key_password=password)
            message = self.env._(
                "Connected to KSeF – %(env)s – with the certificate %(serial)s for NIP %(nip)s, valid "
                "until %(date)s.", env=env_label, serial=credentials.serial, nip=nip,
                date=format_date(self.env, _naive(credentials.valid_to)))
        return self._connected(message)

    def action_l10n_pl_ksef_use_emulator(self):
        """Evaluation mode: start (or reuse) the local emulator and get a test token by itself."""
        self.ensure_one()
        from ..ksef import bootstrap

        nip = self.config_id._l10n_pl_ksef_check_nip()
        url = self.config_id._l10n_pl_ksef_api_target("emulator")
        try:
            token = bootstrap.obtain_test_token(
                url, nip, client_kwargs=self.config_id._l10n_pl_ksef_client_kwargs())
        except ksef_errors.KSeFError as exc:
            self.config_id._l10n_pl_ksef_raise_user_error(
                exc, action=self.env._("Obtaining a token from the local emulator"))
        self.environment = "emulator"
        self._authenticate("emulator", "token", nip, token=token,
                           token_created_on=fields.Date.context_today(self))
        return self._connected(self.env._(
            "Connected to the local KSeF emulator (%(url)s) with a test token for NIP %(nip)s. "
            "Nothing sent there has any legal effect.", url=url, nip=nip))

    def action_l10n_pl_ksef_use_test_certificate(self):
        """TEST / emulator only: connect with a self-signed certificate made for the company."""
        self.ensure_one()
        if self.environment not in ("test", "emulator"):
            raise UserError(self.env._(
                "Self-signed certificates are accepted only by the TEST KSeF and the local emulator."))
        nip = self.config_id._l10n_pl_ksef_check_nip()
        test_cert = ksef_certs.make_test_certificate(nip=nip, cert_type=ksef_certs.AUTHENTICATION,
                                                     key_type="ec")
        credentials = ksef_certs.load_credentials(test_cert.cert_pem, test_cert.key_pem, None,
                                                  expected_type=ksef_certs.AUTHENTICATION)
        self._authenticate(self.environment, "certificate", nip, credentials=credentials,
                           cert_bytes=test_cert.cert_pem, key_bytes=test_cert.key_pem,
                           key_password=None)
        return self._connected(self.env._(
            "Connected with a self-signed test certificate for NIP %(nip)s. You can now request "
            "an offline certificate from KSeF below.", nip=nip))

    def action_l10n_pl_ksef_save_offline(self):
        """Store an uploaded offline certificate, or request one from KSeF."""
        self.ensure_one()
        config = self.config_id
        name = (self.offline_cert_name or "").strip()
        if self.offline_source == "generate":
            if not name:
                raise UserError(self.env._("Give the offline certificate a name."))
            credentials = config._l10n_pl_ksef_enroll_offline_certificate(name)
            if credentials is None:
                if not config.offline_enroll_reference:
                    # refused: said in the chatter and an activity, kept (no exception here)
                    self.result_message = self.env._(
                        "KSeF did not issue the offline certificate. %(why)s",
                        why=config.offline_enroll_message or "")
                    return self._l10n_pl_ksef_reopen()
                self.result_message = self.env._(
                    "KSeF is issuing the offline certificate (request %(reference)s). Odoo stores "
                    "it as soon as KSeF has issued it, usually within minutes; you can close "
                    "this window. The KSeF settings show it when it is there.",
                    reference=config.offline_enroll_reference)
                return self._l10n_pl_ksef_reopen()
        else:
            cert_bytes = base64.b64decode(self.offline_cert_file) if self.offline_cert_file else b""
            key_bytes = self._secret("offline_key_file", binary=True)
            password = self._secret("offline_key_password")
            if not cert_bytes or not key_bytes:
                raise UserError(self.env._(
                    "Upload both the offline certificate (.crt/.cer/.pem) and its private key (.key)."))
            try:
                credentials = ksef_certs.load_credentials(
                    cert_bytes, key_bytes, password or None, expected_type=ksef_certs.OFFLINE)
            except ksef_errors.KSeFError as exc:
                config._l10n_pl_ksef_raise_user_error(exc)
            config._l10n_pl_ksef_store_offline_certificate(
                credentials, name or self.offline_cert_filename or credentials.serial,
                key_bytes, password)
        self._wipe()
        self.result_message = self.env._(
            "The offline certificate %(serial)s is stored. It is valid from %(start)s until %(end)s; "
            "you will be warned 30 days before it expires.", serial=credentials.serial,
            start=format_date(self.env, _naive(credentials.valid_from)),
            end=format_date(self.env, _naive(credentials.valid_to)))
        return self._l10n_pl_ksef_reopen()

    def action_l10n_pl_ksef_go_offline(self):
        self.ensure_one()
        self.step = "offline"
        return self._l10n_pl_ksef_reopen()

    def action_l10n_pl_ksef_back(self):
        self.ensure_one()
        self.write({"step": "connect", "result_message": False})
        return self._l10n_pl_ksef_reopen()
