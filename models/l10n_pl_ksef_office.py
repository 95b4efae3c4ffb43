"""The accounting office's own KSeF credential (``l10n_pl_ksef.office``), stored once and used by
every client company connected "through the accounting office".

In KSeF a client grants the office (by the office's NIP) the entity permissions InvoiceWrite
(to send invoices) and InvoiceRead (to view and import them); the office then logs in with its
own KSeF certificate in the **client's context** (contextIdentifier = the client's NIP). Each
client company keeps its own access tokens (its settings' session), as with its own credential.

Only a certificate (KSeF Authentication certificate or qualified seal of the office) can act for
clients: a KSeF token works only in the context it was generated in, so a client that prefers a
token connects with its own token instead.

Multi-company rule: an office credential lists the client companies it serves
(``company_ids``); a KSeF manager sees and chooses it only when they may access **every** one of
those companies (a credential that serves a company hidden from a user stays hidden from that
user), and a company can be connected through it only when it is one of them (the connect
wizard adds the company). Secrets are encrypted by :mod:`..tools.vault` like the company
settings' secrets, readable only by KSeF managers, and re-encrypted by the key rotation.
"""
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools.misc import format_date

from ..ksef import certs as ksef_certs
from ..ksef import errors as ksef_errors
from ..ksef import nip as ksef_nip
from ..ksef.i18n import _
from ..tools import ksef_i18n, vault
from .l10n_pl_ksef_config import ENVIRONMENTS, OFFLINE_WARNING_DAYS, SECRET_GROUP, _naive

OFFICE_SECRET_FIELDS = ("auth_key_encrypted", "auth_key_password_encrypted")

# KSeF refusing the office in a client's context, said in the office's terms (core-style
# templates: kept untranslated on the error and shown in each reader's language)
MISSING_BOTH = _(
    "KSeF refused the accounting office %(office)s (NIP %(office_nip)s) in the context of "
    "%(company)s (NIP %(nip)s): the client has not granted the office any KSeF permission. "
    "Missing: InvoiceWrite (Wystawianie faktur), needed to send invoices, and InvoiceRead "
    "(Przeglądanie faktur), needed to import purchase invoices. The client grants them in the "
    "KSeF taxpayer application (Aplikacja Podatnika KSeF > Uprawnienia): entity permissions "
    "InvoiceWrite and InvoiceRead for the NIP %(office_nip)s. Nothing is lost: queued invoices "
    "stay queued and the import continues once the permissions are granted.")
MISSING_WRITE = _(
    "The accounting office %(office)s (NIP %(office_nip)s) may not send invoices for "
    "%(company)s (NIP %(nip)s): the client has not granted it the KSeF permission InvoiceWrite "
    "(Wystawianie faktur). The client grants it in the KSeF taxpayer application (Aplikacja "
    "Podatnika KSeF > Uprawnienia): entity permission InvoiceWrite for the NIP %(office_nip)s. "
    "Nothing is lost: queued invoices stay queued and are sent once it is granted.")
MISSING_READ = _(
    "The accounting office %(office)s (NIP %(office_nip)s) may not import purchase invoices for "
    "%(company)s (NIP %(nip)s): the client has not granted it the KSeF permission InvoiceRead "
    "(Przeglądanie faktur). The client grants it in the KSeF taxpayer application (Aplikacja "
    "Podatnika KSeF > Uprawnienia): entity permission InvoiceRead for the NIP %(office_nip)s. "
    "Nothing is lost: the import continues from where it stopped once it is granted.")


class L10nPlKsefOffice(models.Model):
    _name = "l10n_pl_ksef.office"
    _inherit = ["mail.thread"]
    _description = "KSeF credential of an accounting office"
    _order = "name, id"

    name = fields.Char(string="Accounting office", required=True, tracking=True)
    nip = fields.Char(
        string="Office NIP", required=True, tracking=True,
        help="The accounting office's own NIP: the clients grant their KSeF permissions to it.")
    active = fields.Boolean(default=True)
    company_ids = fields.Many2many(
        "res.company", "l10n_pl_ksef_office_company_rel", "office_id", "company_id",
        string="Client companies",
        help="The companies that may be connected to KSeF through this credential. A KSeF "
             "manager sees the credential only when they may access every one of them.")
    environment = fields.Selection(
        ENVIRONMENTS, string="KSeF environment", required=True, default="test", tracking=True,
        help="The KSeF environment the office's certificate belongs to; client companies "
             "connected through it use the same one.")
    config_ids = fields.One2many("l10n_pl_ksef.config", "office_id", string="Connected companies")
    client_count = fields.Integer(string="Number of connected companies", compute="_compute_client_count")

    # the certificate (public data)
    auth_cert_serial = fields.Char(string="Certificate serial number", readonly=True, copy=False)
    auth_cert_subject = fields.Char(string="Certificate holder", readonly=True, copy=False)
    auth_cert_valid_from = fields.Datetime(string="Certificate valid from", readonly=True, copy=False)
    auth_cert_valid_to = fields.Datetime(string="Certificate valid until", readonly=True, copy=False)
    has_auth_certificate = fields.Boolean(string="Certificate stored", readonly=True, copy=False)
    cert_state = fields.Selection(
        [("none", "None"), ("valid", "Valid"), ("expiring", "Expires soon"), ("expired", "Expired")],
        string="Certificate", compute="_compute_cert_state")

    # --- secrets: ciphertext only, managers only -----------------------------
    auth_cert_pem = fields.Text(string="Authentication certificate (PEM)", groups=SECRET_GROUP,
                                copy=False, prefetch=False, readonly=True)
    auth_key_encrypted = fields.Text(groups=SECRET_GROUP, copy=False, prefetch=False, readonly=True)
    auth_key_password_encrypted = fields.Text(groups=SECRET_GROUP, copy=False, prefetch=False,
                                              readonly=True)

    @api.depends("config_ids")
    def _compute_client_count(self):
        for office in self:
            office.client_count = len(office.sudo().config_ids)

    @api.depends("auth_cert_valid_to", "has_auth_certificate")
    def _compute_cert_state(self):
        now = fields.Datetime.now()
        for office in self:
            valid_to = office.auth_cert_valid_to
            if not office.has_auth_certificate or not valid_to:
                office.cert_state = "none"
            elif valid_to <= now:
                office.cert_state = "expired"
            elif valid_to - now <= timedelta(days=OFFLINE_WARNING_DAYS):
                office.cert_state = "expiring"
            else:
                office.cert_state = "valid"

    @api.constrains("nip")
    def _check_nip(self):
        for office in self:
            if not ksef_nip.is_valid_nip(office.nip or ""):
                raise ValidationError(self.env._(
                    "The accounting office's NIP %(nip)s is not a valid Polish NIP (10 digits with "
                    "a correct check digit).", nip=office.nip))

    @api.model_create_multi
    def create(self, vals_list):
        self._l10n_pl_ksef_check_manager()
        for vals in vals_list:
            if vals.get("nip"):
                vals["nip"] = ksef_nip.normalize_nip(vals["nip"])
        return super().create(vals_list)

    def write(self, vals):
        self._l10n_pl_ksef_check_manager()
        if vals.get("nip"):
            vals["nip"] = ksef_nip.normalize_nip(vals["nip"])
        result = super().write(vals)
        if "company_ids" in vals:
            self._l10n_pl_ksef_check_clients()
        return result

    def _l10n_pl_ksef_check_clients(self):
        """A company connected through the credential stays one of its client companies."""
        for office in self.sudo():
            orphans = office.config_ids.filtered(lambda c, clients=office.company_ids: (
                c.auth_method == "office" and c.company_id not in clients))
            if orphans:
                raise ValidationError(self.env._(
                    "%(companies)s are connected to KSeF through %(office)s: disconnect them (or "
                    "connect them otherwise) before removing them from the credential.",
                    companies=", ".join(orphans.company_id.mapped("display_name")),
                    office=office.display_name))

    def _l10n_pl_ksef_check_manager(self):
        if not self.env.su and not self.env.user.has_group(SECRET_GROUP):
            raise UserError(self.env._("Only KSeF managers can manage the accounting office's "
                                       "KSeF credential."))

    # --- the certificate -----------------------------------------------------------

    def _l10n_pl_ksef_secret(self, field_name):
        """Decrypt one secret field; bytes (b"" when empty). Never log the result."""
        self.ensure_one()
        try:
            return vault.decrypt(self.sudo()[field_name])
        except vault.VaultError as exc:
            raise UserError(ksef_i18n.error_message(self.env, exc)) from exc

    def _l10n_pl_ksef_check_certificate(self, credentials):
        """The certificate must be the office's: a certificate naming another NIP is refused."""
        self.ensure_one()
        kind, value = credentials.identity
        if kind == "Nip" and value != self.nip:
            raise UserError(self.env._(
                "The certificate belongs to NIP %(cert_nip)s, but the accounting office's NIP is "
                "%(nip)s. Upload the office's own KSeF certificate (the clients grant their "
                "permissions to the office's NIP).", cert_nip=value, nip=self.nip))

    def _l10n_pl_ksef_store_certificate(self, credentials, key_bytes, key_password):
        """Store the office's certificate (after a login with it worked)."""
        self.ensure_one()
        self._l10n_pl_ksef_check_manager()
        self._l10n_pl_ksef_check_certificate(credentials)
        try:
            key = vault.encrypt(key_bytes)
            password = vault.encrypt(key_password)
        except vault.VaultError as exc:
            raise UserError(ksef_i18n.error_message(self.env, exc)) from exc
        self.sudo().write({
            "auth_cert_pem": ksef_certs.certificate_to_pem(credentials.certificate).decode(),
            "auth_key_encrypted": key,
            "auth_key_password_encrypted": password,
            "auth_cert_serial": credentials.serial,
            "auth_cert_subject": "%s %s" % tuple(credentials.identity),
            "auth_cert_valid_from": _naive(credentials.valid_from),
            "auth_cert_valid_to": _naive(credentials.valid_to),
            "has_auth_certificate": True,
        })
        self.sudo().message_post(body=self.env._(
            "KSeF certificate %(serial)s stored (valid until %(date)s), by %(user)s.",
            serial=credentials.serial, date=format_date(self.env, _naive(credentials.valid_to)),
            user=self.env.user.name))

    def _l10n_pl_ksef_credentials(self):
        """The office's certificate and key, loaded in memory only."""
        self.ensure_one()
        office = self.sudo()
        cert = (office.auth_cert_pem or "").encode()
        key = office._l10n_pl_ksef_secret("auth_key_encrypted")
        password = office._l10n_pl_ksef_secret("auth_key_password_encrypted").decode() or None
        if not cert or not key:
            raise UserError(self.env._(
                "No KSeF certificate is stored for the accounting office %(office)s: upload it in "
                "the \"Connect to KSeF\" wizard (Through the accounting office).",
                office=office.display_name))
        return cert, key, password

    def _l10n_pl_ksef_login(self, client, context_nip):
        """Log ``client`` in with the office's certificate in the context of ``context_nip``."""
        cert, key, password = self._l10n_pl_ksef_credentials()
        client.authenticate_with_certificate(context_nip, cert, key, password)

    # --- what a refusal means for an office ------------------------------------------

    def _l10n_pl_ksef_permission_error(self, exc, company, context_nip):
        """``exc`` (a core error) said in an office's terms when it is KSeF refusing the office
        in the client's context, else None.

        * login ended with status 415 (no permission at all in the client's context): both
          InvoiceWrite (to send) and InvoiceRead (to import) are missing;
        * a request refused with 403 ``missing-permissions``: the permission that request needs.
        """
        self.ensure_one()
        missing = None
        if isinstance(exc, ksef_errors.KSeFAuthError) and getattr(exc, "status_code", None) == 415:
            missing = ["InvoiceWrite", "InvoiceRead"]
        elif isinstance(exc, ksef_errors.KSeFForbidden) \
                and getattr(exc, "reason_code", None) == "missing-permissions":
            text = " ".join([str(getattr(exc, "description", "") or "")]
                            + [str(d) for d in getattr(exc, "details", None) or ()])
            missing = [p for p in ("InvoiceWrite", "InvoiceRead") if p in text] \
                or ["InvoiceWrite", "InvoiceRead"]
        if missing is None:
            return None
        if missing == ["InvoiceWrite"]:
            template = MISSING_WRITE
        elif missing == ["InvoiceRead"]:
            template = MISSING_READ
        else:
            template = MISSING_BOTH
        # the same kind of error (every caller's except clauses still hold), in office terms
        new = exc.__class__.__new__(exc.__class__)
        new.__dict__.update(exc.__dict__)
        new.template = template
        new.params = {"office": self.name, "office_nip": self.nip, "company": company.name,
                      "nip": context_nip}
        new.message = ksef_errors.format_message(template, new.params)
        new.args = (new.message,)
        new.missing_permissions = missing
        return new
