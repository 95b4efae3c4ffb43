"""KSeF outages of a company: the unavailability / failure periods offline deadlines count from.

The deadline of an invoice issued in the ``offline`` mode (KSeF unavailable) is the next business
day after the unavailability ENDS; in the ``emergency`` mode (failure announced by the ministry)
7 business days after the failure ends; a total failure cancels the obligation to send. While an
outage lasts its end is unknown, so these invoices have no date yet ("pending").

One ``l10n_pl_ksef.outage`` record per period:

* created automatically (``automatic``) with kind ``offline`` when the module switches waiting
  online invoices to the offline mode because KSeF is unreachable or reports unavailability,
  and ended automatically (end = now) when the sending cron reaches KSeF again;
* created and kept up to date from the ministry's availability service ("Latarnia",
  ``ksef.latarnia``) by the scheduled action "KSeF: outages announced by the ministry": announced
  maintenance (``offline``), failures (``emergency``) and total failures, started, moved and
  ended as the ministry publishes them (``source_ref`` = the ministry's event);
* created or edited by KSeF managers: record when an unavailability ended, or declare a failure
  (``emergency``) or total failure as announced by the ministry (BIP / interface software / mass
  media), with its start and, later, its end.

Every change recomputes the deadlines of the company's offline invoices still waiting to be sent
(``ksef.offline.deadline_info``): invoices issued in the offline/emergency mode link to the outage
they were issued in; failures and total failures of the company are passed as events (a failure
announced while an invoice waits moves its deadline, a total failure cancels it).
"""
import logging
from datetime import datetime, timedelta

import pytz
from odoo import api, fields, models, modules
from odoo.exceptions import UserError, ValidationError

from ..ksef import errors as ksef_errors
from ..ksef import latarnia as ksef_latarnia
from ..ksef import offline as ksef_offline
from ..ksef.client import resolve_environment
from ..ksef.records import naive_utc

_logger = logging.getLogger(__name__)
#: outages that ended longer ago than this are not imported any more (deadlines are long past)
LATARNIA_HISTORY = timedelta(days=30)

OUTAGE_KINDS = [
    ("offline", "KSeF unavailable (offline mode)"),
    ("emergency", "KSeF failure (emergency mode)"),
    ("total_failure", "Total failure of KSeF"),
]
POLISH_TZ = pytz.timezone("Europe/Warsaw")


def polish_date(value):
    """A UTC datetime (as Odoo stores it) -> the calendar date in Poland; None stays None."""
    if not value:
        return None
    if isinstance(value, str):
        value = fields.Datetime.to_datetime(value)
    if isinstance(value, datetime):
        return pytz.utc.localize(value).astimezone(POLISH_TZ).date()
    return value


class L10nPlKsefOutage(models.Model):
    _name = "l10n_pl_ksef.outage"
    _description = "KSeF outage"
    _order = "date_start desc, id desc"

    company_id = fields.Many2one("res.company", required=True, index=True, ondelete="cascade",
                                 default=lambda self: self.env.company)
    kind = fields.Selection(
        OUTAGE_KINDS, required=True, default="offline",
        help="KSeF unavailable: invoices issued meanwhile are due by the next business day after it "
             "ends. KSeF failure (announced by the ministry in BIP and the interface software): due "
             "within 7 business days after it ends. Total failure (announced in the mass media): "
             "invoices issued before or during it need not be sent to KSeF.")
    date_start = fields.Datetime(string="Started at", required=True, default=fields.Datetime.now)
    date_end = fields.Datetime(
        string="Ended at",
        help="Empty while the outage lasts. Record the end announced by the ministry: the offline "
             "invoices' deadlines are counted from it.")
    note = fields.Text()
    automatic = fields.Boolean(
        readonly=True,
        help="Recorded by Odoo when KSeF could not be reached; ended by Odoo when it answers again.")
    source_ref = fields.Char(
        "Ministry's event", readonly=True, index=True, copy=False,
        help="The event of the ministry's availability service (Latarnia) this record follows: "
             "its start and end are updated from the ministry's messages.")
    announcement = fields.Text("Ministry's announcement", readonly=True)
    ongoing = fields.Boolean(compute="_compute_ongoing")
    move_ids = fields.One2many("account.move", "l10n_pl_ksef_outage_id", string="Invoices issued",
                               readonly=True)
    move_count = fields.Integer(compute="_compute_move_count")

    @api.depends("date_end")
    def _compute_ongoing(self):
        for outage in self:
            outage.ongoing = not outage.date_end

    def _compute_move_count(self):
        for outage in self:
            outage.move_count = len(outage.move_ids)

    @api.depends("kind", "date_start")
    def _compute_display_name(self):
        labels = dict(self._fields["kind"]._description_selection(self.env))
        for outage in self:
            outage.display_name = "%s (%s)" % (labels.get(outage.kind, ""),
                                               polish_date(outage.date_start) or "")

    @api.constrains("kind", "date_end")
    def _check_dates(self):
        for outage in self:
            if outage.date_end and outage.date_start and outage.date_end < outage.date_start:
                raise ValidationError(self.env._("An outage cannot end before it starts."))

    # ------------------------------------------------------------------ recompute
    @api.model_create_multi
    def create(self, vals_list):
        outages = super().create(vals_list)
        outages.company_id._l10n_pl_ksef_recompute_offline_deadlines()
        return outages

    def write(self, vals):
        companies = self.company_id
        res = super().write(vals)
        (companies | self.company_id)._l10n_pl_ksef_recompute_offline_deadlines()
        return res

    def unlink(self):
        companies = self.company_id
        res = super().unlink()
        companies._l10n_pl_ksef_recompute_offline_deadlines()
        return res

    # ------------------------------------------------------------------ helpers
    @api.model
    def _l10n_pl_ksef_current(self, company):
        """The ongoing unavailability or failure of ``company`` (a failure first), or empty."""
        now = fields.Datetime.now()
        ongoing = self.sudo().search([("company_id", "=", company.id),
                                      ("date_start", "<=", now),
                                      "|", ("date_end", "=", False), ("date_end", ">", now),
                                      ("kind", "in", ("offline", "emergency"))],
                                     order="date_start desc")
        return ongoing.filtered(lambda o: o.kind == "emergency")[:1] or ongoing[:1]

    @api.model
    def _l10n_pl_ksef_events(self, company):
        """Failures and total failures of ``company`` as ksef.offline.Event objects."""
        kinds = {"emergency": ksef_offline.FAILURE, "total_failure": ksef_offline.TOTAL}
        outages = self.sudo().search([("company_id", "=", company.id),
                                      ("kind", "in", tuple(kinds))])
        return tuple(ksef_offline.Event(kinds[o.kind], polish_date(o.date_start), polish_date(o.date_end))
                     for o in outages)

    @api.model
    def _l10n_pl_ksef_start_automatic(self, company, note):
        """KSeF cannot be reached: the ongoing outage, or a new automatic ``offline`` one."""
        current = self._l10n_pl_ksef_current(company)
        if current:
            return current
        return self.sudo().create({"company_id": company.id, "kind": "offline", "automatic": True,
                                   "date_start": fields.Datetime.now(), "note": note})

    @api.model
    def _l10n_pl_ksef_end_automatic(self, company):
        """KSeF answers again: end the open automatic ``offline`` outages of ``company``."""
        outages = self.sudo().search([("company_id", "=", company.id), ("automatic", "=", True),
                                      ("kind", "=", "offline"), ("date_end", "=", False)])
        if outages:
            outages.write({"date_end": fields.Datetime.now()})
        return outages

    # ------------------------------------------------------------------ the ministry's word
    @api.model
    def _cron_l10n_pl_ksef_latarnia(self):
        """Read the ministry's availability service of every environment companies are connected
        to, and keep one outage record per announced event and company."""
        configs = self.env["l10n_pl_ksef.config"].sudo().search([("state", "!=", "not_connected")])
        by_url = {}
        for config in configs:
            try:
                url = resolve_environment(config._l10n_pl_ksef_api_target()).latarnia_url
            except (UserError, ksef_errors.KSeFError) as exc:
                _logger.warning("KSeF availability: no service for company %s: %s",
                                config.company_id.id, exc)
                continue
            by_url.setdefault(url, self.env["res.company"])
            by_url[url] |= config.company_id
        done = self.browse()
        for url, companies in by_url.items():
            try:
                with ksef_latarnia.LatarniaClient(url) as client:
                    events = ksef_latarnia.outage_events(client.messages())
            except ksef_errors.KSeFError as exc:
                # nothing is ended or changed on a failed read: the records keep the last word
                _logger.warning("KSeF availability service %s not read: %s", url, exc)
                continue
            done |= self._l10n_pl_ksef_apply_events(companies, events)
            if not modules.module.current_test:
                self.env.cr.commit()  # pylint: disable=invalid-commit
        return done

    @api.model
    def _l10n_pl_ksef_apply_events(self, companies, events):
        """Create or update the outage records of ``companies`` for ``events``
        (ksef.latarnia.OutageEvent) -> the records touched."""
        touched = self.browse()
        horizon = fields.Datetime.now() - LATARNIA_HISTORY
        existing = self.sudo().search([("company_id", "in", companies.ids),
                                       ("source_ref", "in", [e.source_id for e in events])])
        index = {(o.company_id.id, o.source_ref): o for o in existing}
        to_create = []
        for event in events:
            start, end = naive_utc(event.start), naive_utc(event.end) if event.end else False
            text = "\n".join(part for part in (event.title, event.text) if part) or False
            values = {"kind": event.kind, "date_start": start, "date_end": end,
                      "announcement": text}
            for company in companies:
                record = index.get((company.id, event.source_id))
                if record:
                    changes = {key: value for key, value in values.items()
                               if record[key] != value}
                    if changes:
                        record.write(changes)
                        touched |= record
                elif not end or end >= horizon:
                    to_create.append({**values, "company_id": company.id,
                                      "source_ref": event.source_id,
                                      "note": self.env._("Announced by the Ministry of Finance "
                                                         "(KSeF availability service).")})
        if to_create:
            touched |= self.sudo().create(to_create)
        return touched

    def action_l10n_pl_ksef_end_now(self):
        """Button "Ended now"."""
        self.filtered(lambda o: not o.date_end).write({"date_end": fields.Datetime.now()})
        return True

    def action_view_moves(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Invoices issued during the outage"),
            "res_model": "account.move",
            "view_mode": "list,form",
            "domain": [("l10n_pl_ksef_outage_id", "=", self.id)],
        }


class ResCompany(models.Model):
    _inherit = "res.company"

    def _l10n_pl_ksef_recompute_offline_deadlines(self):
        """Recompute the deadlines of the offline invoices of these companies still waiting."""
        if not self:
            return
        moves = self.env["account.move"].sudo().search([
            ("company_id", "in", self.ids), ("l10n_pl_ksef_state", "in", ("queued", "sent")),
            ("l10n_pl_ksef_mode", "in", ("offline24", "offline", "emergency"))])
        moves._l10n_pl_ksef_update_deadline()
