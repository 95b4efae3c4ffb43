"""The office cockpit: one row per company the user may access, with its KSeF health.

An accounting office keeps hundreds of client companies in one database. This read-only model
(``_auto = False``, one SQL query: grouped subqueries joined to the companies, no query per
company) shows for each company its connection (environment, method, state, the credential's
and the Offline certificate's end), the send queue, rejected invoices, offline invoices with the
nearest legal deadline, the last import and its problems, and what stopped the crons last; its
buttons open the company's settings, queue, rejected invoices, etc. in that company.

Its record rule shows the companies allowed to the user (``user.company_ids``), not only those
ticked in the company switcher: the cockpit is where the office looks over all of them. The
buttons make the row's company the current one (client action, as the company switcher does)
and open its records.
"""
from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL

from .account_move import OFFLINE_MODES

#: credentials ending within this many days (or ended) need attention
EXPIRY_WARNING_DAYS = 30


def _selection_of(model, field):
    """The selection of ``model.field`` (with its translations), read when shown: a value
    another module adds (e.g. a new authentication method) appears here by itself."""
    def selection(self):
        return self.env[model]._fields[field]._description_selection(self.env)
    return selection


class L10nPlKsefCockpit(models.Model):
    _name = "l10n_pl_ksef.cockpit"
    _description = "KSeF office cockpit (one row per company)"
    _auto = False
    _order = "health_rank, company_name, id"
    _rec_name = "company_id"
    _depends = {
        "res.company": ["name", "active", "account_fiscal_country_id"],
        "l10n_pl_ksef.config": [
            "company_id", "nip", "environment", "auth_method", "state", "last_error",
            "last_contact", "auth_cert_valid_to", "has_token", "has_offline_certificate",
            "offline_cert_valid_to", "send_error", "send_error_at", "office_id",
        ],
        "l10n_pl_ksef.office": ["auth_cert_valid_to"],
        "account.move": ["company_id", "l10n_pl_ksef_state", "l10n_pl_ksef_mode",
                         "l10n_pl_ksef_deadline", "l10n_pl_ksef_deadline_status"],
        "l10n_pl_ksef.import.cursor": ["company_id", "active", "last_run_at", "last_run_id",
                                       "last_error", "last_error_at"],
        "l10n_pl_ksef.import.run": ["state", "message"],
        "l10n_pl_ksef.import.error": ["company_id", "state"],
    }

    company_id = fields.Many2one("res.company", readonly=True)
    company_name = fields.Char(string="Company name", readonly=True)
    config_id = fields.Many2one("l10n_pl_ksef.config", string="KSeF settings", readonly=True)
    nip = fields.Char(string="NIP", readonly=True)
    environment = fields.Selection(_selection_of("l10n_pl_ksef.config", "environment"),
                                   string="KSeF environment", readonly=True)
    auth_method = fields.Selection(_selection_of("l10n_pl_ksef.config", "auth_method"),
                                   string="Authentication method", readonly=True)
    state = fields.Selection(_selection_of("l10n_pl_ksef.config", "state"),
                             string="Connection", readonly=True)
    last_error = fields.Text(string="Connection problem", readonly=True)
    last_contact = fields.Datetime(string="Last contact with KSeF", readonly=True)
    credential_valid_until = fields.Date(
        string="Credential valid until", readonly=True,
        help="The last day the company's KSeF credential works: the authentication certificate's "
             "end, or for a KSeF token the last day tokens may be used (system parameter "
             "l10n_pl_ksef.token_end_date).")
    offline_cert_valid_to = fields.Datetime(string="Offline certificate valid until", readonly=True)
    send_error = fields.Text(string="Sending problem", readonly=True)
    send_error_at = fields.Datetime(string="Sending problem at", readonly=True)
    queued_count = fields.Integer(string="Waiting to be sent", readonly=True,
                                  help="Invoices queued for KSeF, not sent yet.")
    sent_count = fields.Integer(string="Awaiting KSeF number", readonly=True)
    rejected_count = fields.Integer(string="Rejected", readonly=True)
    offline_count = fields.Integer(string="Offline, to send", readonly=True,
                                   help="Invoices issued offline that are not in KSeF yet.")
    offline_deadline = fields.Date(
        string="Nearest offline deadline", readonly=True,
        help="The earliest legal deadline of the company's offline invoices not in KSeF yet.")
    last_import_at = fields.Datetime(string="Last import", readonly=True)
    last_import_state = fields.Selection(_selection_of("l10n_pl_ksef.import.run", "state"),
                                         string="Last import result", readonly=True)
    import_error = fields.Text(string="Import problem", readonly=True)
    import_error_at = fields.Datetime(string="Import problem at", readonly=True)
    refused_count = fields.Integer(string="Refused documents", readonly=True,
                                   help="Purchase invoices the import refused, to check.")
    health = fields.Selection(
        [("problem", "Needs action"), ("attention", "Attention"), ("ok", "All good"),
         ("off", "Not connected")],
        string="Status", readonly=True)
    health_rank = fields.Integer(readonly=True)

    # ------------------------------------------------------------------ the query
    @api.model
    def _credential_end_sql(self):
        """SQL (over ``cfg``, the config row) of the last day the company's credential works.
        Extend for another authentication method."""
        token_end = self.env["l10n_pl_ksef.config"]._l10n_pl_ksef_token_end_date()
        return SQL(
            "CASE WHEN cfg.auth_method = 'certificate' THEN cfg.auth_cert_valid_to::date "
            "WHEN cfg.auth_method = 'token' AND cfg.has_token THEN %s::date "
            # through the accounting office: the office's certificate
            "WHEN cfg.auth_method = 'office' THEN (SELECT office.auth_cert_valid_to::date "
            "FROM l10n_pl_ksef_office office WHERE office.id = cfg.office_id) END", token_end)

    @property
    def _table_query(self):
        today = fields.Date.context_today(self)
        soon = today + timedelta(days=EXPIRY_WARNING_DAYS)
        tomorrow = today + timedelta(days=1)
        credential_end = self._credential_end_sql()
        problem = SQL(
            "cfg.state = 'error' OR cfg.send_error IS NOT NULL OR cur.last_error IS NOT NULL "
            "OR run.state = 'failed' OR COALESCE(mv.rejected_count, 0) > 0 "
            "OR mv.offline_deadline <= %(tomorrow)s OR (%(cred)s) < %(today)s "
            "OR (cfg.has_offline_certificate AND cfg.offline_cert_valid_to::date < %(today)s)",
            tomorrow=tomorrow, cred=credential_end, today=today)
        attention = SQL(
            "(%(cred)s) <= %(soon)s "
            "OR (cfg.has_offline_certificate AND cfg.offline_cert_valid_to::date <= %(soon)s) "
            "OR COALESCE(err.refused_count, 0) > 0 OR COALESCE(mv.offline_count, 0) > 0",
            cred=credential_end, soon=soon)
        return SQL(
            """
            SELECT c.id AS id, c.id AS company_id, c.name AS company_name, cfg.id AS config_id,
                   cfg.nip, cfg.environment, cfg.auth_method,
                   COALESCE(cfg.state, 'not_connected') AS state,
                   cfg.last_error, cfg.last_contact,
                   %(cred)s AS credential_valid_until,
                   CASE WHEN cfg.has_offline_certificate THEN cfg.offline_cert_valid_to END
                       AS offline_cert_valid_to,
                   cfg.send_error, cfg.send_error_at,
                   COALESCE(mv.queued_count, 0) AS queued_count,
                   COALESCE(mv.sent_count, 0) AS sent_count,
                   COALESCE(mv.rejected_count, 0) AS rejected_count,
                   COALESCE(mv.offline_count, 0) AS offline_count,
                   mv.offline_deadline,
                   cur.last_run_at AS last_import_at, run.state AS last_import_state,
                   cur.last_error AS import_error, cur.last_error_at AS import_error_at,
                   COALESCE(err.refused_count, 0) AS refused_count,
                   h.health,
                   CASE h.health WHEN 'problem' THEN 0 WHEN 'attention' THEN 1
                                 WHEN 'ok' THEN 2 ELSE 3 END AS health_rank
              FROM res_company c
              LEFT JOIN l10n_pl_ksef_config cfg ON cfg.company_id = c.id
              LEFT JOIN (
                    SELECT company_id,
                           count(*) FILTER (WHERE l10n_pl_ksef_state = 'queued') AS queued_count,
                           count(*) FILTER (WHERE l10n_pl_ksef_state = 'sent') AS sent_count,
                           count(*) FILTER (WHERE l10n_pl_ksef_state = 'rejected') AS rejected_count,
                           count(*) FILTER (WHERE l10n_pl_ksef_state IN ('queued', 'sent')
                                            AND l10n_pl_ksef_mode IN %(offline)s) AS offline_count,
                           min(l10n_pl_ksef_deadline) FILTER (
                               WHERE l10n_pl_ksef_state IN ('queued', 'sent')
                               AND l10n_pl_ksef_mode IN %(offline)s
                               AND COALESCE(l10n_pl_ksef_deadline_status, 'due') = 'due')
                               AS offline_deadline
                      FROM account_move
                     WHERE l10n_pl_ksef_state IN ('queued', 'sent', 'rejected')
                  GROUP BY company_id) mv ON mv.company_id = c.id
              LEFT JOIN (
                    SELECT DISTINCT ON (company_id) company_id, last_run_at, last_run_id,
                           last_error, last_error_at
                      FROM l10n_pl_ksef_import_cursor
                     WHERE active
                  ORDER BY company_id, last_error IS NULL, last_run_at DESC NULLS LAST, id
                  ) cur ON cur.company_id = c.id
              LEFT JOIN l10n_pl_ksef_import_run run ON run.id = cur.last_run_id
              LEFT JOIN (
                    SELECT company_id, count(*) AS refused_count
                      FROM l10n_pl_ksef_import_error
                     WHERE state = 'open'
                  GROUP BY company_id) err ON err.company_id = c.id
              LEFT JOIN res_country country ON country.id = c.account_fiscal_country_id
             CROSS JOIN LATERAL (
                    SELECT CASE WHEN COALESCE(cfg.state, 'not_connected') = 'not_connected'
                                     THEN 'off'
                                WHEN %(problem)s THEN 'problem'
                                WHEN %(attention)s THEN 'attention'
                                ELSE 'ok' END AS health) h
             WHERE c.active AND (country.code = 'PL' OR cfg.state IN ('connected', 'error'))
            """,
            cred=credential_end, offline=tuple(OFFLINE_MODES), problem=problem,
            attention=attention)

    # ------------------------------------------------------------------ one click into it
    def _open_in_company(self, action):
        """``action`` with this row's company made the current one first (client action
        ``l10n_pl_ksef_open_in_company``): the company's records, chatter included, are then
        readable under Odoo's own multi-company rules."""
        self.ensure_one()
        company = self.sudo().company_id    # allowed to the user, maybe not active yet
        action.setdefault("context", {})
        return {
            "type": "ir.actions.client",
            "tag": "l10n_pl_ksef_open_in_company",
            "name": action.get("name"),
            "params": {"company_id": company.id, "action": action},
        }

    def _open_moves(self, name, domain, move_type="out_invoice"):
        self.ensure_one()
        return self._open_in_company({
            "type": "ir.actions.act_window",
            "name": "%s: %s" % (self.sudo().company_id.name, name),
            "res_model": "account.move",
            "view_mode": "list,form",
            "views": [(False, "list"), (False, "form")],
            "domain": [("company_id", "=", self.company_id.id)] + domain,
            "context": {"default_move_type": move_type, "create": False},
        })

    def action_open_settings(self):
        self.ensure_one()
        config = self.sudo().company_id._l10n_pl_ksef_get_config()
        return self._open_in_company({
            "type": "ir.actions.act_window",
            "name": self.env._("KSeF settings of %(company)s", company=self.sudo().company_id.name),
            "res_model": "l10n_pl_ksef.config",
            "res_id": config.id,
            "view_mode": "form",
            "views": [(False, "form")],
        })

    def action_open_queue(self):
        name = self.env._("KSeF queue")
        return self._open_moves(name, [("l10n_pl_ksef_state", "in", ("queued", "sent"))])

    def action_open_rejected(self):
        name = self.env._("Rejected by KSeF")
        return self._open_moves(name, [("l10n_pl_ksef_state", "=", "rejected")])

    def action_open_offline(self):
        name = self.env._("Offline invoices to send")
        return self._open_moves(name, [("l10n_pl_ksef_state", "in", ("queued", "sent")),
                                       ("l10n_pl_ksef_mode", "in", OFFLINE_MODES)])

    def action_open_imports(self):
        self.ensure_one()
        return self._open_in_company({
            "type": "ir.actions.act_window",
            "name": self.env._("KSeF imports of %(company)s", company=self.sudo().company_id.name),
            "res_model": "l10n_pl_ksef.import.run",
            "view_mode": "list,form",
            "views": [(False, "list"), (False, "form")],
            "domain": [("company_id", "=", self.company_id.id)],
        })

    def action_open_refused(self):
        self.ensure_one()
        return self._open_in_company({
            "type": "ir.actions.act_window",
            "name": self.env._("Refused KSeF documents of %(company)s",
                               company=self.sudo().company_id.name),
            "res_model": "l10n_pl_ksef.import.error",
            "view_mode": "list,form",
            "views": [(False, "list"), (False, "form")],
            "domain": [("company_id", "=", self.company_id.id), ("state", "=", "open")],
        })
