"""Sending customer invoices to KSeF: the state machine on account.move.

States (``l10n_pl_ksef_state``)::

    (empty) not sent --enqueue--> queued --send--> sent --KSeF number--> accepted
                                    ^               |
                                    |               +--rejected by KSeF--> rejected
                                    +-- a send KSeF provably never received (settled)

* ``queued``: the FA(3) XML is built, validated and stored (attachment) with its
  SHA-256; nothing was sent yet. The bytes never change afterwards: KOD I, the
  hash sent and the hash KSeF stores are the same.
* ``sent``: written (and committed, in the cron) BEFORE the request that sends
  the invoice, together with the session reference. When the answer arrives the
  invoice reference is stored. A ``sent`` invoice without an invoice reference
  means "outcome unknown" (timeout, crash, 5xx): it is never resent blindly but
  settled by asking KSeF whether it holds an invoice with that hash in that
  session (``client.find_invoice``); only when KSeF provably does not have it
  does it go back to ``queued``.
* ``accepted``: KSeF number, acquisition time, UPO attached. Final; the invoice
  can no longer be reset to draft or cancelled (a correction invoice is the way).
* ``rejected``: KSeF's reasons are shown on the invoice; reset to draft, fix it,
  post again.

Issuing modes (``l10n_pl_ksef_mode``): online, offline24 (user's choice),
offline (KSeF unavailable) and emergency (KSeF failure). Offline invoices get
KOD I labelled OFFLINE and KOD II labelled CERTYFIKAT signed with the company's
Offline certificate; they are sent with offlineMode=true. Their deadline comes
from ksef.offline.deadline_info: offline/emergency invoices link to the KSeF
outage they were issued in (l10n_pl_ksef.outage) and stay "pending" (no date)
until it ends; failures and total failures recorded by a KSeF manager move or
cancel the deadlines of the invoices still waiting.

Automatic switch: only when KSeF cannot be reached at all (connection refused,
DNS: KSeFTransportError other than a timeout) or reports unavailability (503,
KSeFUnavailable) do waiting online invoices switch to the ``offline`` mode
(``emergency`` while a failure declared by a KSeF manager lasts), if the
company has an Offline certificate; an automatic outage is recorded and ended
when KSeF answers again. A single 5xx or a timeout only makes the cron retry.

Technical correction: an offline invoice rejected for a technical reason
(430/440/450) is rebuilt and sent in an online session with offlineMode=true
and hashOfCorrectedInvoice = the rejected file's hash.

Coexistence with Odoo's l10n_pl_edi
-----------------------------------
Odoo's own ``l10n_pl_edi`` (auto-installed with l10n_pl) also sends FA(3)
invoices to KSeF. For a company connected to KSeF through this module, its
"by KSeF (e-Faktura)" option is removed from the Send wizard and ignored if
passed anyway (see account_move_send.py), and this module refuses to send an
invoice that l10n_pl_edi already sent (``l10n_pl_edi_status`` set). A company
not connected here keeps l10n_pl_edi untouched. So at most one of the two
ever sends a given invoice.
"""
import base64
import logging
from datetime import timedelta

from markupsafe import Markup, escape
from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools.misc import format_date

from ..ksef import errors as ksef_errors
from ..ksef import offline as ksef_offline
from ..ksef import qr as ksef_qr
from ..ksef.crypto import sha256_b64
from ..tools import ksef_i18n
from .l10n_pl_ksef_outage import polish_date

_logger = logging.getLogger(__name__)

KSEF_STATES = [
    ("queued", "Queued"),
    ("sent", "Sent, awaiting KSeF number"),
    ("accepted", "Accepted"),
    ("rejected", "Rejected"),
]
KSEF_MODES = [
    ("online", "Online"),
    ("offline24", "Offline24 (issued outside KSeF)"),
    ("offline", "Offline (KSeF unavailable)"),
    ("emergency", "Emergency (KSeF failure)"),
]
OFFLINE_MODES = ("offline24", "offline", "emergency")
#: fields of the sending state machine (bookkeeping only: writing them never touches lines)
KSEF_STATE_FIELDS = frozenset((
    "l10n_pl_ksef_state", "l10n_pl_ksef_mode", "l10n_pl_ksef_deadline", "l10n_pl_ksef_deadline_warned",
    "l10n_pl_ksef_xml_id", "l10n_pl_ksef_upo_id", "l10n_pl_ksef_upo_entry", "l10n_pl_ksef_submission_id",
    "l10n_pl_ksef_invoice_ref", "l10n_pl_ksef_sent_at", "l10n_pl_ksef_message", "l10n_pl_ksef_number",
    "l10n_pl_ksef_acquisition_date", "l10n_pl_ksef_invoice_hash", "l10n_pl_ksef_outage_id",
    "l10n_pl_ksef_deadline_status", "l10n_pl_ksef_rejection_code", "l10n_pl_ksef_corrected_hash",
))
#: KSeF invoice statuses of a technical rejection (file / duplicate / semantic verification), which
#: an offline invoice may fix by a technical correction; not permission problems (410, 415)
TECHNICAL_REJECTIONS = (430, 440, 450)
DEADLINE_STATUSES = [
    ("due", "Due by the deadline"),
    ("pending", "Due after the outage ends"),
    ("cancelled", "No obligation to send (total failure)"),
]


class AccountMove(models.Model):
    _inherit = "account.move"

    # Shared with the purchase import (vendor bills): KSeF number and receipt data.
    l10n_pl_ksef_number = fields.Char(
        string="KSeF number", index=True, copy=False, readonly=True, tracking=True,
        help="Number KSeF assigned to the invoice (its legal identifier in KSeF).")
    l10n_pl_ksef_acquisition_date = fields.Datetime(
        string="KSeF acquisition date", copy=False, readonly=True,
        help="When KSeF assigned the number: the legal date of receipt of the invoice.")
    l10n_pl_ksef_invoice_hash = fields.Char(
        string="KSeF invoice hash", copy=False, readonly=True,
        help="SHA-256 (Base64) of the exact FA(3) file sent to / received from KSeF.")

    # Sending
    l10n_pl_ksef_state = fields.Selection(
        KSEF_STATES, string="KSeF", copy=False, readonly=True, index=True, tracking=True,
        help="Empty: not sent to KSeF. Queued: prepared, waiting to be sent. Sent: KSeF received "
             "it and is assigning a number. Accepted: KSeF number assigned. Rejected: see the "
             "reasons on the invoice.")
    l10n_pl_ksef_mode = fields.Selection(
        KSEF_MODES, string="KSeF issuing mode", copy=False, default="online",
        help="Online: sent to KSeF when issued. Offline24: issued outside KSeF by choice, sent "
             "by the next business day. Offline / Emergency: issued while KSeF is unavailable or "
             "failing; sent after it is back, before the legal deadline. Offline invoices carry "
             "two QR codes.")
    l10n_pl_ksef_deadline = fields.Date(
        string="KSeF deadline", copy=False, readonly=True,
        help="Last day on which this offline invoice may be sent to KSeF.")
    l10n_pl_ksef_deadline_warned = fields.Boolean(copy=False, readonly=True)
    l10n_pl_ksef_deadline_status = fields.Selection(
        DEADLINE_STATUSES, string="KSeF deadline status", copy=False, readonly=True,
        help="Due: must be in KSeF by the deadline. Due after the outage ends: issued during a KSeF "
             "unavailability or failure that has not ended yet; the deadline is counted from its "
             "end. No obligation: a total failure of KSeF was announced while the invoice waited.")
    l10n_pl_ksef_deadline_note = fields.Char(
        string="KSeF deadline rule", compute="_compute_l10n_pl_ksef_deadline_note")
    l10n_pl_ksef_outage_id = fields.Many2one(
        "l10n_pl_ksef.outage", string="KSeF outage", copy=False, readonly=True, index="btree_not_null",
        ondelete="set null",
        help="The KSeF unavailability or failure during which this invoice was issued offline; its "
             "deadline is counted from the end of it.")
    l10n_pl_ksef_xml_id = fields.Many2one(
        "ir.attachment", string="KSeF XML", copy=False, readonly=True,
        help="The exact FA(3) file sent to KSeF.")
    l10n_pl_ksef_upo_id = fields.Many2one(
        "ir.attachment", string="KSeF UPO", copy=False, readonly=True,
        help="Official receipt (Urzędowe Poświadczenie Odbioru) issued by KSeF. For a batch session "
             "this is the whole (signed) UPO page of the session; the invoice's own entry is below.")
    l10n_pl_ksef_upo_entry = fields.Text(
        string="KSeF UPO entry", copy=False, readonly=True,
        help="This invoice's entry (Dokument) in the session UPO: KSeF number, invoice number, "
             "dates and hash as KSeF confirmed them.")
    l10n_pl_ksef_submission_id = fields.Many2one(
        "l10n_pl_ksef.submission", string="KSeF session", copy=False, readonly=True, index=True)
    l10n_pl_ksef_session_ref = fields.Char(
        related="l10n_pl_ksef_submission_id.reference", string="KSeF session reference")
    l10n_pl_ksef_invoice_ref = fields.Char(
        string="KSeF invoice reference", copy=False, readonly=True,
        help="Reference KSeF gave the sent invoice (not the KSeF number).")
    l10n_pl_ksef_sent_at = fields.Datetime(string="Sent to KSeF at", copy=False, readonly=True)
    l10n_pl_ksef_message = fields.Text(
        string="KSeF message", copy=False, readonly=True,
        help="What to fix before sending, or why KSeF rejected the invoice.")
    l10n_pl_ksef_rejection_code = fields.Integer(
        string="KSeF rejection status", copy=False, readonly=True,
        help="Status code of KSeF's rejection (430 file verification, 440 duplicate, 450 semantic "
             "verification, 410 permissions, ...).")
    l10n_pl_ksef_corrected_hash = fields.Char(
        string="Technical correction of", copy=False, readonly=True,
        help="SHA-256 (Base64) of the rejected offline invoice file this file corrects technically "
             "(sent as hashOfCorrectedInvoice; KSeF links the two).")
    l10n_pl_ksef_can_correct = fields.Boolean(compute="_compute_l10n_pl_ksef_enabled")
    l10n_pl_ksef_status = fields.Selection(
        [("not_sent", "Not sent")] + KSEF_STATES, string="KSeF status",
        compute="_compute_l10n_pl_ksef_status",
        help="What the badge shows: the KSeF state, or \"Not sent\" for a confirmed invoice of a "
             "company connected to KSeF that has not been sent yet.")
    l10n_pl_ksef_enabled = fields.Boolean(compute="_compute_l10n_pl_ksef_enabled")
    l10n_pl_ksef_show_send = fields.Boolean(compute="_compute_l10n_pl_ksef_enabled")
    l10n_pl_ksef_can_issue_offline = fields.Boolean(
        "Can be issued offline", compute="_compute_l10n_pl_ksef_enabled",
        help="Offline issuing is offered only with a usable Offline certificate (it signs KOD II).")

    # ------------------------------------------------------------------ computes
    @api.depends("l10n_pl_ksef_state", "state", "move_type", "company_id")
    def _compute_l10n_pl_ksef_status(self):
        for move in self:
            status = move.l10n_pl_ksef_state
            if not status and move.state == "posted" and move._l10n_pl_ksef_is_applicable():
                status = "not_sent"
            move.l10n_pl_ksef_status = status or False

    @api.depends("company_id", "move_type", "state", "l10n_pl_ksef_state", "l10n_pl_ksef_mode",
                 "l10n_pl_ksef_rejection_code")
    def _compute_l10n_pl_ksef_enabled(self):
        for move in self:
            enabled = move._l10n_pl_ksef_is_applicable()
            move.l10n_pl_ksef_enabled = enabled
            move.l10n_pl_ksef_show_send = (enabled and move.state == "posted"
                                           and move.l10n_pl_ksef_state in (False, "rejected"))
            move.l10n_pl_ksef_can_issue_offline = (
                move.l10n_pl_ksef_show_send and not move.l10n_pl_ksef_state
                and not move._l10n_pl_ksef_offline_problems())
            move.l10n_pl_ksef_can_correct = enabled and move._l10n_pl_ksef_technically_rejected()

    def _l10n_pl_ksef_technically_rejected(self):
        """A posted offline invoice KSeF rejected for a technical reason (technical correction)."""
        self.ensure_one()
        return (self.state == "posted" and self.l10n_pl_ksef_state == "rejected"
                and self.l10n_pl_ksef_mode in OFFLINE_MODES
                and self.l10n_pl_ksef_rejection_code in TECHNICAL_REJECTIONS
                and bool(self.l10n_pl_ksef_invoice_hash))

    @api.depends("l10n_pl_ksef_mode", "l10n_pl_ksef_deadline_status", "l10n_pl_ksef_state")
    def _compute_l10n_pl_ksef_deadline_note(self):
        for move in self:
            note = False
            if move.l10n_pl_ksef_state in ("queued", "sent") and move.l10n_pl_ksef_mode in OFFLINE_MODES:
                if move.l10n_pl_ksef_deadline_status == "pending":
                    days = ksef_offline.FAILURE_BUSINESS_DAYS if (
                        move.l10n_pl_ksef_mode == "emergency"
                        or move.l10n_pl_ksef_outage_id.kind == "emergency") else 1
                    note = self.env._(
                        "Issued during a KSeF outage that has not ended yet: due %(days)s business "
                        "day(s) after the outage ends (sent automatically as soon as KSeF answers).",
                        days=days)
                elif move.l10n_pl_ksef_deadline_status == "cancelled":
                    note = self.env._(
                        "A total failure of KSeF was announced: this invoice does not have to be sent "
                        "to KSeF (it is still sent when KSeF is back, unless you cancel it).")
            move.l10n_pl_ksef_deadline_note = note

    def _l10n_pl_ksef_is_applicable(self):
        """A customer invoice/credit note of a Polish company connected to KSeF."""
        self.ensure_one()
        return (self.move_type in ("out_invoice", "out_refund")
                and self.company_id.account_fiscal_country_id.code == "PL"
                and self.company_id._l10n_pl_ksef_is_connected())

    # ------------------------------------------------------------------ writes
    def write(self, vals):
        if vals and set(vals) <= KSEF_STATE_FIELDS:
            # only the KSeF bookkeeping of the invoice: no journal line can change, and the
            # invoice was not edited by a user (no line re-synchronisation, which costs
            # ~10 ms per invoice, and no "manually modified" flag)
            self = self.with_context(skip_invoice_sync=True, skip_is_manually_modified=True)  # noqa: PLW0642
        return super().write(vals)

    # ------------------------------------------------------------------ protections
    def _l10n_pl_ksef_check_locked(self, what):
        locked = self.filtered(lambda m: m._l10n_pl_ksef_is_locked())
        if locked:
            raise UserError(self.env._(
                "%(what)s is not possible for %(names)s: the invoice has been issued in KSeF "
                "(or is being sent to it). A KSeF invoice cannot be changed or cancelled; issue a "
                "correction invoice (credit note) instead.",
                what=what, names=", ".join(locked.mapped("name"))))

    def button_draft(self):
        self._l10n_pl_ksef_check_locked(self.env._("Resetting to draft"))
        res = super().button_draft()
        self._l10n_pl_ksef_clear()
        return res

    def button_cancel(self):
        self._l10n_pl_ksef_check_locked(self.env._("Cancelling"))
        return super().button_cancel()

    def _l10n_pl_ksef_is_locked(self):
        """Issued in KSeF, being sent, or issued offline (it exists with its QR codes): it cannot
        be reset, changed or cancelled; a correction invoice is the way."""
        self.ensure_one()
        return self.l10n_pl_ksef_state in ("sent", "accepted") or (
            self.l10n_pl_ksef_state == "queued" and self.l10n_pl_ksef_mode in OFFLINE_MODES)

    @api.depends("l10n_pl_ksef_state", "l10n_pl_ksef_mode")
    def _compute_show_reset_to_draft_button(self):
        res = super()._compute_show_reset_to_draft_button()
        for move in self:
            if move._l10n_pl_ksef_is_locked():
                move.show_reset_to_draft_button = False     # the same rule button_draft applies
        return res

    def _l10n_pl_ksef_clear(self):
        """Forget a queued (online) or rejected send after a reset to draft."""
        moves = self.filtered(lambda m: m.l10n_pl_ksef_state in ("queued", "rejected"))
        if moves:
            moves.write({
                "l10n_pl_ksef_state": False, "l10n_pl_ksef_invoice_hash": False,
                "l10n_pl_ksef_xml_id": False, "l10n_pl_ksef_submission_id": False,
                "l10n_pl_ksef_invoice_ref": False, "l10n_pl_ksef_deadline": False,
                "l10n_pl_ksef_message": False, "l10n_pl_ksef_sent_at": False,
                "l10n_pl_ksef_deadline_status": False, "l10n_pl_ksef_outage_id": False,
                "l10n_pl_ksef_rejection_code": False, "l10n_pl_ksef_corrected_hash": False,
            })

    def _post(self, soft=True):
        posted = super()._post(soft=soft)
        to_send = posted.filtered(lambda m: m._l10n_pl_ksef_is_applicable()
                                  and m.company_id._l10n_pl_ksef_send_on_post())
        if to_send:
            # queue only: the cron (triggered now) sends after this transaction commits
            to_send._l10n_pl_ksef_enqueue(raise_on_problems=False)
            self.env.ref("l10n_pl_ksef.ir_cron_l10n_pl_ksef_send")._trigger()
        return posted

    # ------------------------------------------------------------------ enqueue
    def _l10n_pl_ksef_other_module_sent(self):
        """True when Odoo's l10n_pl_edi has already sent this invoice."""
        self.ensure_one()
        return bool("l10n_pl_edi_status" in self._fields and self.l10n_pl_edi_status)

    def _l10n_pl_ksef_enqueue(self, mode=None, raise_on_problems=True):
        """Validate, build and store the FA(3) XML, and queue the invoices.

        Invoices already queued/sent/accepted are left alone (never sent twice).
        Returns the moves queued. Problems are written on the invoice
        (``l10n_pl_ksef_message``) and raised as one UserError if asked.
        """
        queued = self.browse()
        failures = {}
        for move in self:
            if move.l10n_pl_ksef_state in ("queued", "sent", "accepted"):
                continue
            if move._l10n_pl_ksef_other_module_sent():
                failures[move] = [self.env._(
                    "This invoice was already sent to KSeF by the \"Polish E-Invoicing FA(3)\" module "
                    "(l10n_pl_edi); it is not sent a second time.")]
                move.l10n_pl_ksef_message = failures[move][0]
                continue
            move_mode = mode or move.l10n_pl_ksef_mode or "online"
            problems = []
            if move_mode in OFFLINE_MODES:
                problems += move._l10n_pl_ksef_offline_problems()
            xml, more = move._l10n_pl_ksef_validate()
            problems += more
            if problems:
                failures[move] = problems
                move.l10n_pl_ksef_message = "\n".join("- %s" % p for p in problems)
                continue
            move._l10n_pl_ksef_queue(xml, move_mode)
            queued |= move
        if failures and raise_on_problems:
            raise UserError("\n\n".join(
                self.env._("%(name)s cannot be sent to KSeF:\n%(problems)s", name=move.name or "",
                           problems="\n".join("- %s" % p for p in problems))
                for move, problems in failures.items()))
        return queued

    def _l10n_pl_ksef_set_mode(self, mode, outage=None):
        """Record the issuing mode; offline/emergency invoices link to the ongoing outage of the
        company (``outage``, or the current one); then compute the deadline."""
        self.ensure_one()
        vals = {"l10n_pl_ksef_mode": mode, "l10n_pl_ksef_outage_id": False}
        if mode in ("offline", "emergency"):
            outage = outage or self.env["l10n_pl_ksef.outage"]._l10n_pl_ksef_current(self.company_id)
            vals["l10n_pl_ksef_outage_id"] = outage.id
        self.write(vals)
        self._l10n_pl_ksef_update_deadline()

    def _l10n_pl_ksef_deadline_info(self):
        """ksef.offline.DeadlineInfo of this invoice from its mode, its outage and the company's
        failures / total failures."""
        self.ensure_one()
        mode = self.l10n_pl_ksef_mode or "online"
        today = fields.Date.context_today(self)
        issue = self.invoice_date or today
        Outage = self.env["l10n_pl_ksef.outage"]
        events = Outage._l10n_pl_ksef_events(self.company_id)
        kwargs = {}
        if mode in ("offline", "emergency"):
            outage = self.l10n_pl_ksef_outage_id
            if outage:
                end = polish_date(outage.date_end)
            else:
                # no outage recorded: count from today (conservative: the earliest possible end)
                end = max(issue, today)
            kwargs["unavailability_end" if mode == "offline" else "failure_end"] = end
        return ksef_offline.deadline_info(mode, issue, events=events, **kwargs)

    def _l10n_pl_ksef_deadline_text(self):
        """One sentence on when this offline invoice is due (chatter, messages)."""
        self.ensure_one()
        status = self.l10n_pl_ksef_deadline_status
        if status == "due":
            return self.env._("it must be in KSeF by %(date)s.",
                              date=format_date(self.env, self.l10n_pl_ksef_deadline))
        if status == "pending":
            return self.env._("its deadline is counted from the end of the KSeF outage (%(outage)s).",
                              outage=self.l10n_pl_ksef_outage_id.display_name or "-")
        if status == "cancelled":
            return self.env._("a total failure of KSeF was announced: it does not have to be sent.")
        return ""

    def _l10n_pl_ksef_update_deadline(self):
        """(Re)compute deadline and deadline status of offline invoices; the deadline activity
        is scheduled again when the date moves."""
        for move in self:
            if move.l10n_pl_ksef_mode not in OFFLINE_MODES:
                vals = {"l10n_pl_ksef_deadline": False, "l10n_pl_ksef_deadline_status": False}
            else:
                info = move._l10n_pl_ksef_deadline_info()
                vals = {"l10n_pl_ksef_deadline": info.deadline or False,
                        "l10n_pl_ksef_deadline_status": info.status}
            if vals["l10n_pl_ksef_deadline"] != move.l10n_pl_ksef_deadline:
                vals["l10n_pl_ksef_deadline_warned"] = False
            changed = {k: v for k, v in vals.items() if move[k] != v}
            if changed:
                move.write(changed)

    def _l10n_pl_ksef_offline_problems(self):
        config = self.company_id._l10n_pl_ksef_get_config()
        usable = config.offline_cert_state in (False, "valid", "expiring")
        if not config.has_offline_certificate or not usable:
            return [self.env._(
                "Offline issuing needs a valid KSeF Offline certificate (it signs the second QR code, "
                "KOD II). Add one in %(settings)s, or send the invoice online.",
                settings=ksef_i18n.settings_path(self.env))]
        return []

    def _l10n_pl_ksef_xml(self):
        self.ensure_one()
        return self.l10n_pl_ksef_xml_id.sudo().raw

    # ------------------------------------------------------------------ user actions
    def action_l10n_pl_ksef_send(self):
        """Button "Send to KSeF": queue the invoices and send them now."""
        moves = self.filtered(lambda m: m._l10n_pl_ksef_is_applicable())
        if not moves:
            raise UserError(self.env._(
                "Only posted customer invoices and credit notes of a company connected to KSeF can be "
                "sent. Connect the company in %(settings)s.", settings=ksef_i18n.settings_path(self.env)))
        moves.filtered(lambda m: m.l10n_pl_ksef_state == "rejected")._l10n_pl_ksef_clear()
        # problems are written on the invoices (banner), not raised: a raise would roll them back
        moves._l10n_pl_ksef_enqueue(raise_on_problems=False)
        moves._l10n_pl_ksef_send_now()
        invalid = moves.filtered(lambda m: not m.l10n_pl_ksef_state and m.l10n_pl_ksef_message)
        if invalid:
            return {
                "type": "ir.actions.client",
                "tag": "display_notification",
                "params": {
                    "type": "warning",
                    "sticky": True,
                    "title": self.env._("Not sent to KSeF: fix the invoice first"),
                    "message": "\n\n".join("%s:\n%s" % (m.name, m.l10n_pl_ksef_message) for m in invalid),
                    "next": {"type": "ir.actions.client", "tag": "soft_reload"},
                },
            }
        return True

    def action_l10n_pl_ksef_issue_offline(self):
        """Button "Issue offline (offline24)": issue now, send to KSeF later."""
        moves = self.filtered(lambda m: m._l10n_pl_ksef_is_applicable())
        moves._l10n_pl_ksef_enqueue(mode="offline24")
        self.env.ref("l10n_pl_ksef.ir_cron_l10n_pl_ksef_send")._trigger()
        return True

    def action_l10n_pl_ksef_technical_correction(self):
        """Button "Send technical correction": an offline invoice KSeF rejected for a technical
        reason (430/440/450) is rebuilt from the same business content as a valid FA(3) file and
        sent in an online session with offlineMode=true and hashOfCorrectedInvoice = the hash of
        the rejected file; KSeF links the two (the KOD I already printed leads to the accepted
        one). Content changes are not possible this way: issue a correction invoice instead."""
        for move in self:
            if not move._l10n_pl_ksef_technically_rejected():
                raise UserError(self.env._(
                    "%(name)s cannot be corrected technically: only an offline invoice that KSeF "
                    "rejected for a technical reason (status 430, 440 or 450) can. Permission "
                    "problems must be fixed in KSeF; other changes need a correction invoice.",
                    name=move.name))
            xml, problems = move._l10n_pl_ksef_validate()
            if problems:
                move.l10n_pl_ksef_message = "\n".join("- %s" % p for p in problems)
                raise UserError(self.env._(
                    "%(name)s cannot be sent as a technical correction yet:\n%(problems)s",
                    name=move.name, problems=move.l10n_pl_ksef_message))
            # the file the buyer's KOD I points to: a correction that was rejected again keeps
            # referring to the original
            rejected_hash = move.l10n_pl_ksef_corrected_hash or move.l10n_pl_ksef_invoice_hash
            move._l10n_pl_ksef_queue(xml, move.l10n_pl_ksef_mode, outage=move.l10n_pl_ksef_outage_id,
                                     corrected_hash=rejected_hash)
        self._l10n_pl_ksef_send_now()
        return True

    def action_l10n_pl_ksef_refresh(self):
        """Button "Check KSeF": settle sent invoices now."""
        self._l10n_pl_ksef_send_now()
        return True

    def _l10n_pl_ksef_send_now(self):
        """Process these moves synchronously, company by company (button / Send wizard)."""
        Submission = self.env["l10n_pl_ksef.submission"]
        for company, moves in self.filtered(
                lambda m: m.l10n_pl_ksef_state in ("queued", "sent")).grouped("company_id").items():
            Submission._process_company(company, moves, interactive=True)

    # ------------------------------------------------------------------ transitions
    # The only methods that change an invoice's KSeF state. Each one writes every field and
    # chatter line of its transition, whichever path calls it (button, Send wizard, cron,
    # online or batch session); the engine (l10n_pl_ksef.submission) drives KSeF sessions and
    # calls them, it never writes these fields itself. Resetting to draft: _l10n_pl_ksef_clear.

    def _l10n_pl_ksef_queue(self, xml, mode, outage=None, corrected_hash=False):
        """(not sent | rejected) -> queued: the FA(3) file is stored with its hash; nothing is
        sent yet. ``corrected_hash``: a technical correction of the rejected file with that hash
        (logged on the invoice)."""
        self.ensure_one()
        attachment = self.env["ir.attachment"].sudo().create({
            "name": "FA3-%s.xml" % (self.name or "").replace("/", "_"),
            "raw": xml,
            "mimetype": "application/xml",
            "res_model": self._name,
            "res_id": self.id,
            "description": self.env._("FA(3) invoice sent to KSeF"),
        })
        self.write({
            "l10n_pl_ksef_state": "queued",
            "l10n_pl_ksef_mode": mode,
            "l10n_pl_ksef_xml_id": attachment.id,
            "l10n_pl_ksef_invoice_hash": sha256_b64(xml),
            "l10n_pl_ksef_message": False,
            "l10n_pl_ksef_invoice_ref": False,
            "l10n_pl_ksef_submission_id": False,
            "l10n_pl_ksef_rejection_code": False,
            "l10n_pl_ksef_corrected_hash": corrected_hash or False,
        })
        self._l10n_pl_ksef_set_mode(mode, outage=outage)
        if corrected_hash:
            self._message_log(body=self.env._(
                "Technical correction of the rejected KSeF file (hash %(hash)s) queued for KSeF.",
                hash=corrected_hash))

    def _l10n_pl_ksef_switch_offline(self, mode, outage=None, reason=""):
        """queued (online) -> queued in an offline ``mode``, because KSeF cannot be reached
        (``reason``); linked to ``outage`` for offline/emergency; the deadline is computed and
        told in one chatter message per invoice."""
        for move in self:
            move._l10n_pl_ksef_set_mode(mode, outage=outage)
        modes = dict(self._fields["l10n_pl_ksef_mode"]._description_selection(self.env))
        self._message_log_batch(bodies={m.id: self.env._(
            "KSeF is not reachable (%(error)s). The invoice was issued in the %(mode)s mode and "
            "will be sent automatically when KSeF answers again; %(deadline)s", error=reason,
            mode=modes.get(m.l10n_pl_ksef_mode), deadline=m._l10n_pl_ksef_deadline_text())
            for m in self})

    def _l10n_pl_ksef_note(self, message):
        """Why a waiting invoice is still waiting (no state change)."""
        if self:
            self.write({"l10n_pl_ksef_message": message})

    def _l10n_pl_ksef_mark_sent(self, submission):
        """queued -> sent in ``submission``: written (and committed by the engine) BEFORE the
        request that sends the file; without an invoice reference the outcome is unknown and
        the invoice is settled by its hash, never resent blindly."""
        self.write({"l10n_pl_ksef_state": "sent", "l10n_pl_ksef_submission_id": submission.id,
                    "l10n_pl_ksef_sent_at": fields.Datetime.now(), "l10n_pl_ksef_invoice_ref": False,
                    "l10n_pl_ksef_message": False})

    def _l10n_pl_ksef_mark_received(self, invoice_ref):
        """sent: KSeF took the file and named its invoice reference (the KSeF number follows)."""
        self.ensure_one()
        if invoice_ref and not self.l10n_pl_ksef_invoice_ref:
            self.l10n_pl_ksef_invoice_ref = invoice_ref

    def _l10n_pl_ksef_requeue(self, reason=False):
        """sent -> queued: KSeF provably did not take the invoice (no session, not held by KSeF
        in it, a batch never closed or not listed, 429); sent again automatically. ``reason``
        is shown on the invoice."""
        if self:
            self.write({"l10n_pl_ksef_state": "queued", "l10n_pl_ksef_submission_id": False,
                        "l10n_pl_ksef_sent_at": False, "l10n_pl_ksef_invoice_ref": False,
                        "l10n_pl_ksef_message": reason or False})

    def _l10n_pl_ksef_accept(self, status, upo=None, log=True):
        """sent -> accepted: KSeF number, acquisition time, invoice reference, UPO. ``log=False``:
        the caller logs many at once (``_l10n_pl_ksef_log_outcome``)."""
        self.ensure_one()
        vals = {
            "l10n_pl_ksef_state": "accepted",
            "l10n_pl_ksef_number": status.held_ksef_number,
            "l10n_pl_ksef_acquisition_date": status.acquisition_date and fields.Datetime.to_datetime(
                status.acquisition_date.astimezone(tz=None).replace(tzinfo=None)
                if status.acquisition_date.tzinfo else status.acquisition_date),
            "l10n_pl_ksef_message": False,
        }
        if status.reference_number and not self.l10n_pl_ksef_invoice_ref:
            vals["l10n_pl_ksef_invoice_ref"] = status.reference_number
        self.write(vals)
        if upo:
            self._l10n_pl_ksef_attach_upo(upo)
        if log:
            self._l10n_pl_ksef_log_outcome()
        if self.invoice_pdf_report_id:
            # the stored PDF shows no KSeF number yet: drop it so the next print shows it
            self.invoice_pdf_report_id.sudo().unlink()
            self.invalidate_recordset(["invoice_pdf_report_id", "invoice_pdf_report_file"])

    def _l10n_pl_ksef_reject(self, code, message, log=True):
        """queued | sent -> rejected: KSeF refused the invoice, at once (validation of the request)
        or after processing it; its status ``code`` and reasons are kept and logged."""
        try:
            code = int(code or 0)
        except (TypeError, ValueError):
            code = 0
        self.write({"l10n_pl_ksef_state": "rejected", "l10n_pl_ksef_message": message,
                    "l10n_pl_ksef_rejection_code": code or False})
        if log:
            self._l10n_pl_ksef_log_outcome()

    def _l10n_pl_ksef_log_outcome(self):
        """One chatter message per accepted / rejected invoice (in bulk for a batch session)."""
        bodies = {}
        for move in self:
            if move.l10n_pl_ksef_state == "accepted":
                label = (self.env._("Accepted by KSeF (batch session). KSeF number:")
                         if move.l10n_pl_ksef_submission_id.kind == "batch"
                         else self.env._("Accepted by KSeF. KSeF number:"))
                bodies[move.id] = Markup("%s <b>%s</b>") % (label, move.l10n_pl_ksef_number)
            elif move.l10n_pl_ksef_state == "rejected":
                bodies[move.id] = Markup("%s<br/>%s") % (
                    self.env._("Rejected by KSeF:"), escape(move.l10n_pl_ksef_message or ""))
        if bodies:
            self.browse(bodies)._message_log_batch(bodies=bodies)

    def _l10n_pl_ksef_apply_status(self, status, upo=None, log=True):
        """Apply an InvoiceStatus of KSeF (``ksef.records``) through the transition it means.

        Returns "accepted", "sent" (still pending) or "rejected". ``log=False``: no chatter
        message (the batch settling logs all invoices at once).
        """
        self.ensure_one()
        if status.held_ksef_number:
            self._l10n_pl_ksef_accept(status, upo=upo, log=log)
            return "accepted"
        if not status.is_final:
            self._l10n_pl_ksef_mark_received(status.reference_number)
            return "sent"
        error = status.rejection_error()
        message = (ksef_i18n.error_message(self.env, error) if error is not None
                   else status.description)
        self._l10n_pl_ksef_reject(status.code, message, log=log)
        return "rejected"

    def _l10n_pl_ksef_is_offline(self):
        """Sent with offlineMode=true: issued offline, or a technical correction."""
        self.ensure_one()
        return self.l10n_pl_ksef_mode in OFFLINE_MODES or bool(self.l10n_pl_ksef_corrected_hash)

    def _l10n_pl_ksef_attach_upo(self, upo=None, shared=None, entry=None):
        """Link the UPO: ``upo`` (bytes, an attachment is made) or ``shared`` (the session's UPO
        page of a batch, with this invoice's ``entry`` in it)."""
        self.ensure_one()
        if shared:
            self.write({"l10n_pl_ksef_upo_id": shared.id, "l10n_pl_ksef_upo_entry": entry or False})
            return
        attachment = self.env["ir.attachment"].sudo().create({
            "name": "UPO-%s.xml" % (self.name or "").replace("/", "_"),
            "raw": upo,
            "mimetype": "application/xml",
            "res_model": self._name,
            "res_id": self.id,
            "description": self.env._("KSeF official receipt (UPO)"),
        })
        self.l10n_pl_ksef_upo_id = attachment.id

    # ------------------------------------------------------------------ QR codes
    def _l10n_pl_ksef_qr_environment(self):
        return self.company_id._l10n_pl_ksef_get_config()._l10n_pl_ksef_qr_environment()

    def _l10n_pl_ksef_qr_codes(self):
        """QR codes for the invoice PDF: [{"name", "label", "url", "png" (base64)}].

        The PNG is the bare code; the report prints the label (KSeF number, OFFLINE or
        CERTYFIKAT) as text under it, large enough to read (a label drawn into the image ends
        up about 4 pt high on paper).

        Accepted online invoice: KOD I with its KSeF number. Offline invoice: KOD I
        (KSeF number once accepted, else OFFLINE) and KOD II (CERTYFIKAT). Otherwise none.
        """
        self.ensure_one()
        if not self.l10n_pl_ksef_invoice_hash or not self.l10n_pl_ksef_state:
            return []
        offline = self.l10n_pl_ksef_mode in OFFLINE_MODES
        if not offline and self.l10n_pl_ksef_state != "accepted":
            return []
        if self.l10n_pl_ksef_state != "accepted" and self.l10n_pl_ksef_deadline_status == "cancelled":
            return []   # total failure: no QR codes required (ksef.offline.qr_codes_for_mode)
        environment = self._l10n_pl_ksef_qr_environment()
        nip = self.company_id._l10n_pl_ksef_get_config().nip or (self.company_id.vat or "")[-10:]
        codes = []
        url = ksef_qr.invoice_verification_url(environment, nip, self.invoice_date,
                                               invoice_hash=self.l10n_pl_ksef_invoice_hash)
        label = ksef_qr.label_for_kod1(self.l10n_pl_ksef_number)
        codes.append({"name": "KOD I", "url": url, "label": label,
                      "png": base64.b64encode(ksef_qr.qr_png(url)).decode()})
        if offline:
            try:
                config = self.company_id._l10n_pl_ksef_get_config()
                credentials = config._l10n_pl_ksef_get_offline_credentials()
                url2 = ksef_qr.certificate_verification_url(
                    environment, "Nip", nip, nip, credentials.certificate, credentials.private_key,
                    invoice_hash=self.l10n_pl_ksef_invoice_hash)
            except (UserError, ksef_errors.KSeFError) as exc:
                _logger.warning("KSeF: KOD II of %s could not be made: %s", self.name, exc)
            else:
                png = ksef_qr.qr_png(url2)
                codes.append({"name": "KOD II", "url": url2, "label": ksef_qr.LABEL_CERTIFICATE,
                              "png": base64.b64encode(png).decode()})
        return codes

    # ------------------------------------------------------------------ cron
    @api.model
    def _cron_l10n_pl_ksef_send(self):
        """Drain the queue: send queued invoices, settle sent ones, warn about deadlines."""
        self.env["l10n_pl_ksef.submission"]._cron_process()
        self._l10n_pl_ksef_warn_deadlines()

    @api.model
    def _l10n_pl_ksef_warn_deadlines(self):
        """One business day before an offline deadline: an activity for the KSeF managers."""
        today = fields.Date.context_today(self)
        moves = self.search([
            ("l10n_pl_ksef_state", "in", ("queued", "sent")),
            ("l10n_pl_ksef_deadline", "!=", False),
            ("l10n_pl_ksef_deadline_warned", "=", False),
            ("l10n_pl_ksef_deadline", "<=", today + timedelta(days=7)),
        ])
        group = self.env.ref("l10n_pl_ksef.group_ksef_manager", raise_if_not_found=False)
        for move in moves:
            warn_on = ksef_offline.business_days_before(move.l10n_pl_ksef_deadline, 1)
            if today < warn_on:
                continue
            users = group.user_ids.filtered(
                lambda u, m=move: m.company_id in u.company_ids) if group else None
            for user in (users or self.env.user)[:5]:
                move.activity_schedule(
                    "mail.mail_activity_data_todo", date_deadline=move.l10n_pl_ksef_deadline,
                    summary=self.env._("KSeF deadline: send %(name)s", name=move.name),
                    note=self.env._("This offline invoice must be in KSeF by %(date)s. It is still "
                                    "waiting (%(state)s): check the KSeF connection and the "
                                    "invoice's KSeF message.",
                                    date=format_date(self.env, move.l10n_pl_ksef_deadline),
                                    state=dict(KSEF_STATES).get(move.l10n_pl_ksef_state)),
                    user_id=user.id)
            move.l10n_pl_ksef_deadline_warned = True
