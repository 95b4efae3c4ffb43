"""Per-company KSeF settings (``l10n_pl_ksef.config``): fields, computes, buttons.

The model is one class spread over files of one concern each:

* ``l10n_pl_ksef_config.py`` (here): the settings fields, their computes and warnings, the
  buttons of the settings form (connect / offline wizards, test, disconnect);
* ``l10n_pl_ksef_config_client.py``: secrets (decrypted only in memory), the one way to get
  a KSeF client (``with config._l10n_pl_ksef_client() as client:``), the login cache,
  storing a connection;
* ``l10n_pl_ksef_config_certificates.py``: the Offline certificate (KOD II): enrollment
  through the API, storing, removing, loading it;
* ``l10n_pl_ksef_config_expiry.py``: the daily expiry check (activities for the KSeF
  managers) and the rotation of the vault's master key.

``company._l10n_pl_ksef_get_config()`` returns the (sudo) settings record of a company,
created on first use. Secrets (token, private keys, key passwords, session tokens) are
stored encrypted by :mod:`odoo.addons.l10n_pl_ksef.tools.vault` (see there where the key
lives and how to rotate it), in fields readable only by the "KSeF manager" group.
"""
import logging
from datetime import date, timedelta, timezone

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools.misc import format_date

from ..ksef import errors as ksef_errors
from ..ksef import nip as ksef_nip

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
    ("office", "Through the accounting office"),
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
    "offline_enroll_encrypted", "auth_renew_encrypted",
)
# Refresh the access token when it expires within this many seconds.
ACCESS_MARGIN = 60
#: above this many waiting invoices of a company, the send cron uses one batch session
BATCH_THRESHOLD = 5


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
    # "through the accounting office": the office's credential (l10n_pl_ksef.office, managers
    # only) logs in in this company's context; the access tokens stay this company's own
    office_id = fields.Many2one(
        "l10n_pl_ksef.office", string="Accounting office credential", readonly=True, copy=False,
        index="btree_not_null", ondelete="restrict", groups=SECRET_GROUP)
    office_name = fields.Char(string="Accounting office", compute="_compute_office_name",
                              compute_sudo=True)
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
    # the send cron's fair share: when this company last had its turn (office scale)
    send_turn_at = fields.Datetime(string="Last turn of the send cron", readonly=True, copy=False)
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

    # sending (the queue: l10n_pl_ksef.submission)
    send_on_post = fields.Boolean(
        string="Send to KSeF when an invoice is posted",
        help="Queue every posted customer invoice and credit note for KSeF at once; the queue is "
             "sent within a minute by the scheduled action. Otherwise invoices are sent from the "
             "Send wizard or with the \"Send to KSeF\" button.")
    batch_threshold = fields.Integer(
        string="Batch session above", default=BATCH_THRESHOLD,
        help="When more invoices than this wait to be sent, the scheduled action sends them in "
             "one KSeF batch session (one encrypted ZIP, a handful of requests) instead of one "
             "request per invoice in an online session.")

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

    @api.depends("office_id")
    def _compute_office_name(self):
        for config in self:
            office = config.office_id
            config.office_name = "%s (NIP %s)" % (office.name, office.nip) if office else False

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
                 "auth_cert_valid_to", "environment", "nip_valid", "office_id")
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
                                   date=format_date(self.env, config.auth_cert_valid_to)))
            office = config.sudo().office_id if config.auth_method == "office" else False
            if office and office.auth_cert_valid_to:
                if office.auth_cert_valid_to <= now:
                    lines.append(_("The accounting office's KSeF certificate has expired: upload "
                                   "its new certificate in the \"Connect to KSeF\" wizard."))
                elif office.auth_cert_valid_to - now <= timedelta(days=OFFLINE_WARNING_DAYS):
                    lines.append(_("The accounting office's KSeF certificate expires on %(date)s: "
                                   "upload its new certificate before then.",
                                   date=format_date(self.env, office.auth_cert_valid_to)))
            if config.offline_cert_state == "expiring":
                lines.append(_("The offline certificate expires in %(days)s days (%(date)s): "
                               "obtain a new one.", days=config.offline_cert_days_left,
                               date=format_date(self.env, config.offline_cert_valid_to)))
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


    def write(self, vals):
        if vals.get("environment") == "prod" and not self.env.context.get("l10n_pl_ksef_prod_confirmed"):
            raise UserError(self.env._(
                "The production KSeF can only be chosen in the \"Connect to KSeF\" wizard, with an "
                "explicit confirmation."))
        return super().write(vals)

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
            office = config.office_id if config.auth_method == "office" else False
            vals = config._l10n_pl_ksef_auth_reset_vals()
            vals.update({"state": "not_connected", "auth_method": False, "connected_nip": False,
                         "session_encrypted": False, "last_error": False})
            config.write(vals)
            if office:
                config.message_post(body=self.env._(
                    "Disconnected from KSeF by %(user)s: this company no longer logs in through "
                    "the accounting office %(office)s (NIP %(office_nip)s); the office's "
                    "credential is kept for its other clients.", user=self.env.user.name,
                    office=office.name, office_nip=office.nip))
                continue
            config.message_post(body=self.env._(
                "Disconnected from KSeF by %(user)s; the stored token, certificate and keys were "
                "removed.", user=self.env.user.name))
        return True


def _naive(value):
    """Odoo stores naive UTC datetimes."""
    if value is None:
        return False
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value
