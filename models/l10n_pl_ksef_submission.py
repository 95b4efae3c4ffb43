"""KSeF sessions used to send invoices, and the engine that drives the state machine.

One ``l10n_pl_ksef.submission`` record per KSeF session (online or batch). The
record is created (and committed, in the cron) as soon as KSeF gives the
session reference, before any invoice is sent in it, so that an invoice in
state ``sent`` always knows the session where KSeF can be asked about it.

Request budget per company (kept below KSeF's PRD limits, counted from these
records and the invoices' send times, so it survives restarts and is shared by
all workers): at most ``ONLINE_SENDS_PER_HOUR`` invoices per hour through online
sessions and ``BATCH_SESSIONS_PER_HOUR`` batch sessions per hour. Beyond that,
and whenever KSeF answers 429, the cron is re-triggered at the time KSeF names
(``Retry-After``) instead of sleeping in a worker.
"""
import logging
from datetime import timedelta

from odoo import api, fields, models, modules, tools
from odoo.exceptions import UserError

from ..ksef import errors as ksef_errors
from .account_move import (
    BATCH_SESSIONS_PER_HOUR,
    BATCH_THRESHOLD,
    OFFLINE_MODES,
    ONLINE_SENDS_PER_HOUR,
    POLL_DELAY_SECONDS,
)

_logger = logging.getLogger(__name__)
CRON_XMLID = "l10n_pl_ksef.ir_cron_l10n_pl_ksef_send"


class KsefFault(Exception):
    """Raised by the test fault hook to simulate a worker killed between two steps."""


class L10nPlKsefSubmission(models.Model):
    _name = "l10n_pl_ksef.submission"
    _description = "KSeF sending session"
    _order = "id desc"
    _rec_name = "reference"

    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True,
                                 ondelete="cascade")
    kind = fields.Selection([("online", "Online session"), ("batch", "Batch session")],
                            required=True, readonly=True)
    reference = fields.Char(string="Session reference", readonly=True, index=True)
    state = fields.Selection([("open", "Open"), ("closed", "Closed"), ("done", "Processed")],
                             default="open", required=True, readonly=True)
    offline_mode = fields.Boolean(readonly=True)
    move_ids = fields.One2many("account.move", "l10n_pl_ksef_submission_id", string="Invoices",
                               readonly=True)
    invoice_count = fields.Integer(compute="_compute_invoice_count")
    upo_id = fields.Many2one("ir.attachment", string="Session UPO", readonly=True)
    message = fields.Text(readonly=True)

    def _compute_invoice_count(self):
        for submission in self:
            submission.invoice_count = len(submission.move_ids)

    # ------------------------------------------------------------------ plumbing
    @api.model
    def _can_commit(self):
        return not (tools.config["test_enable"] or modules.module.current_test)

    @api.model
    def _commit(self):
        if self._can_commit():
            self.env.cr.commit()

    @api.model
    def _fault_point(self, step, moves):
        """Test hook: the context key ``l10n_pl_ksef_fault`` = step name makes this step crash,
        as if the worker had been killed there (state already written, next action not done)."""
        if self.env.context.get("l10n_pl_ksef_fault") == step:
            raise KsefFault("simulated crash at %s for %s" % (step, moves.mapped("name")))

    @api.model
    def _trigger_cron(self, seconds=0):
        cron = self.env.ref(CRON_XMLID, raise_if_not_found=False)
        if cron:
            cron._trigger(at=fields.Datetime.now() + timedelta(seconds=max(0, seconds)))

    @api.model
    def _budget_online(self, company):
        since = fields.Datetime.now() - timedelta(hours=1)
        used = self.env["account.move"].search_count([
            ("company_id", "=", company.id), ("l10n_pl_ksef_sent_at", ">=", since),
            ("l10n_pl_ksef_submission_id.kind", "=", "online")])
        return max(0, ONLINE_SENDS_PER_HOUR - used)

    @api.model
    def _budget_batch(self, company):
        since = fields.Datetime.now() - timedelta(hours=1)
        used = self.search_count([("company_id", "=", company.id), ("kind", "=", "batch"),
                                  ("create_date", ">=", since)])
        return max(0, BATCH_SESSIONS_PER_HOUR - used)

    # ------------------------------------------------------------------ entry points
    @api.model
    def _cron_process(self):
        moves = self.env["account.move"].search([("l10n_pl_ksef_state", "in", ("queued", "sent"))])
        for company in moves.company_id:
            if not company._l10n_pl_ksef_is_connected():
                continue
            try:
                self._process_company(company)
            except UserError as exc:
                _logger.warning("KSeF: sending for %s failed: %s", company.name, exc)
            self._commit()

    @api.model
    def _process_company(self, company, moves=None, interactive=False):
        """Settle the company's sent invoices, then send its queued ones.

        ``moves``: restrict to these invoices (button / Send wizard); None = all.
        Returns the processed moves.
        """
        Move = self.env["account.move"]
        domain = [("company_id", "=", company.id), ("l10n_pl_ksef_state", "in", ("queued", "sent"))]
        if moves is not None:
            domain.append(("id", "in", moves.ids))
        todo = Move.search(domain, order="id")
        # lock: a cron and a button never work on the same invoices at once
        todo = todo.try_lock_for_update() if hasattr(todo, "try_lock_for_update") else todo
        if not todo:
            return todo
        config = company._l10n_pl_ksef_get_config()
        try:
            with config._l10n_pl_ksef_client() as client:
                client.transport.max_retry_after = 0   # never sleep in a worker: reschedule
                self._settle(client, company, todo.filtered(lambda m: m.l10n_pl_ksef_state == "sent"))
                queued = todo.filtered(lambda m: m.l10n_pl_ksef_state == "queued")
                if queued:
                    self._send(client, company, queued)
        except ksef_errors.KSeFRateLimited as exc:
            wait = int(exc.retry_after or 60)
            _logger.info("KSeF: rate limited for %s, next attempt in %s s", company.name, wait)
            self._trigger_cron(wait)
            self._note(todo.filtered(lambda m: m.l10n_pl_ksef_state == "queued"), self.env._(
                "KSeF asked to slow down (too many requests); the invoice will be sent automatically "
                "in %(seconds)s seconds.", seconds=wait))
        except (ksef_errors.KSeFUnavailable, ksef_errors.KSeFTransportError,
                ksef_errors.KSeFServerError) as exc:
            self._ksef_unreachable(company, todo, exc, interactive)
        except ksef_errors.KSeFError as exc:
            message = getattr(exc, "message", None) or str(exc)
            self._note(todo.filtered(lambda m: m.l10n_pl_ksef_state == "queued"), message)
            if interactive:
                raise UserError(message) from exc
            _logger.warning("KSeF: %s: %s", company.name, message)
        return todo

    @api.model
    def _note(self, moves, message):
        if moves:
            moves.write({"l10n_pl_ksef_message": message})

    @api.model
    def _ksef_unreachable(self, company, moves, exc, interactive):
        """KSeF is down: queued online invoices issued today switch to the offline mode when the
        company has an Offline certificate; everything is retried by the cron."""
        message = getattr(exc, "message", None) or str(exc)
        self._trigger_cron(300)
        queued = moves.filtered(
            lambda m: m.l10n_pl_ksef_state == "queued" and m.l10n_pl_ksef_mode == "online")
        switched = self.env["account.move"]
        for move in queued:
            if move._l10n_pl_ksef_offline_problems():
                continue
            mode = "offline" if isinstance(exc, ksef_errors.KSeFUnavailable) else "offline24"
            move.write({"l10n_pl_ksef_mode": mode,
                        "l10n_pl_ksef_deadline": move._l10n_pl_ksef_compute_deadline(mode)})
            switched |= move
        if switched:
            switched._message_log_batch(bodies={m.id: self.env._(
                "KSeF is not reachable (%(error)s). The invoice was issued in the %(mode)s mode and "
                "will be sent automatically before %(deadline)s.", error=message,
                mode=m.l10n_pl_ksef_mode, deadline=m.l10n_pl_ksef_deadline) for m in switched})
        self._note(queued - switched, self.env._(
            "KSeF is not reachable: %(error)s The invoice stays queued and will be sent "
            "automatically. (Without an Offline certificate it cannot be issued offline.)",
            error=message))

    # ------------------------------------------------------------------ settling
    @api.model
    def _settle(self, client, company, moves):
        """Find out what happened to invoices in state ``sent``; never resend blindly."""
        Move = self.env["account.move"]
        for submission, sub_moves in moves.grouped("l10n_pl_ksef_submission_id").items():
            if submission and submission.kind == "batch":
                self._settle_batch(client, submission, sub_moves)
                continue
            if not submission or not submission.reference:
                # the session never got a reference: nothing can have been sent in it
                sub_moves.write({"l10n_pl_ksef_state": "queued", "l10n_pl_ksef_submission_id": False})
                continue
            unknown = sub_moves.filtered(lambda m: not m.l10n_pl_ksef_invoice_ref)
            for move in unknown:
                status = client.find_invoice(move.l10n_pl_ksef_invoice_hash, [submission.reference])
                if status is None:
                    # KSeF provably does not hold it in that session: safe to send again
                    move.write({"l10n_pl_ksef_state": "queued", "l10n_pl_ksef_submission_id": False})
                else:
                    self._apply(client, submission, move, status)
                self._commit()
            pending = Move
            for move in sub_moves - unknown:
                status = client.invoice_status(submission.reference, move.l10n_pl_ksef_invoice_ref)
                if self._apply(client, submission, move, status) == "sent":
                    pending |= move
                self._commit()
            if pending:
                self._trigger_cron(POLL_DELAY_SECONDS)

    @api.model
    def _apply(self, client, submission, move, status):
        upo = None
        if status.held_ksef_number and status.is_success:
            try:
                upo = client.get_invoice_upo(submission.reference, ksef_number=status.ksef_number)
            except ksef_errors.KSeFError as exc:
                _logger.info("KSeF: UPO of %s not available yet: %s", move.name, exc)
        return move._l10n_pl_ksef_apply_status(status, upo=upo)

    @api.model
    def _settle_batch(self, client, submission, moves):
        if not submission.reference:
            # crashed before KSeF named the session: KSeF's duplicate check (440 -> original
            # KSeF number) makes a resend safe
            moves.write({"l10n_pl_ksef_state": "queued", "l10n_pl_ksef_submission_id": False})
            return
        status = client.session_status(submission.reference)
        if status.code in (100, 150, 170):
            self._trigger_cron(POLL_DELAY_SECONDS)
            return
        by_hash = {m.l10n_pl_ksef_invoice_hash: m for m in moves}
        listed = client.list_session_invoices(submission.reference) if status.invoice_count else []
        upo_attachment = self.env["ir.attachment"]
        if status.upo_pages and not submission.upo_id:
            upo = client.get_session_upo(submission.reference, status.upo_pages[0].reference_number)
            upo_attachment = self.env["ir.attachment"].sudo().create({
                "name": "UPO-%s.xml" % submission.reference, "raw": upo,
                "mimetype": "application/xml", "res_model": self._name, "res_id": submission.id,
                "description": self.env._("KSeF session UPO")})
            submission.upo_id = upo_attachment.id
        for invoice_status in listed:
            move = by_hash.pop(invoice_status.invoice_hash, None)
            if move is None:
                continue
            result = move._l10n_pl_ksef_apply_status(invoice_status)
            if result == "accepted" and submission.upo_id:
                move.l10n_pl_ksef_upo_id = submission.upo_id.id
        # invoices KSeF never saw in this (final) session: safe to send again
        leftovers = self.env["account.move"].union(*by_hash.values()) if by_hash else self.env["account.move"]
        leftovers.write({"l10n_pl_ksef_state": "queued", "l10n_pl_ksef_submission_id": False})
        submission.state = "done"
        self._commit()

    # ------------------------------------------------------------------ sending
    @api.model
    def _send(self, client, company, moves):
        for offline, group in moves.grouped(lambda m: m.l10n_pl_ksef_mode in OFFLINE_MODES).items():
            if len(group) > BATCH_THRESHOLD and hasattr(client, "send_batch") and self._budget_batch(company):
                self._send_batch(client, company, group, offline)
            else:
                self._send_online(client, company, group)

    @api.model
    def _send_online(self, client, company, moves):
        allowed = self._budget_online(company)
        if allowed < len(moves):
            self._note(moves[allowed:], self.env._(
                "The hourly KSeF sending budget of the company is used up; the invoice will be sent "
                "automatically within the hour."))
            self._trigger_cron(600)
            moves = moves[:allowed]
        if not moves:
            return
        session = client.open_online_session()
        submission = self.create({"company_id": company.id, "kind": "online",
                                  "reference": session.reference_number})
        self._commit()
        sent = self.env["account.move"]
        try:
            for move in moves:
                move.write({"l10n_pl_ksef_state": "sent", "l10n_pl_ksef_submission_id": submission.id,
                            "l10n_pl_ksef_sent_at": fields.Datetime.now(),
                            "l10n_pl_ksef_invoice_ref": False})
                self._commit()
                self._fault_point("before_send", move)
                try:
                    result = session.send_invoice(move._l10n_pl_ksef_xml(),
                                                  offline_mode=move.l10n_pl_ksef_mode in OFFLINE_MODES)
                except ksef_errors.KSeFRateLimited:
                    # 429: KSeF did not take it
                    move.write({"l10n_pl_ksef_state": "queued", "l10n_pl_ksef_submission_id": False,
                                "l10n_pl_ksef_sent_at": False})
                    raise
                except ksef_errors.KSeFBadRequest as exc:
                    # refused synchronously (validation): nothing stored by KSeF
                    move.write({"l10n_pl_ksef_state": "rejected",
                                "l10n_pl_ksef_message": exc.message or str(exc)})
                    self._commit()
                    continue
                # any other failure (timeout, 5xx, broken connection): outcome unknown, the
                # invoice stays 'sent' without a reference and is settled by find_invoice
                self._fault_point("after_send", move)
                move.l10n_pl_ksef_invoice_ref = result.reference_number
                sent |= move
                self._commit()
        finally:
            try:
                session.close()
                submission.state = "closed"
            except ksef_errors.KSeFError as exc:
                _logger.info("KSeF: closing session %s failed: %s", submission.reference, exc)
        # first look at the results right away (the emulator and KSeF are usually quick)
        self._settle(client, company, sent)

    @api.model
    def _send_batch(self, client, company, moves, offline):
        submission = self.create({"company_id": company.id, "kind": "batch", "offline_mode": offline})
        moves.write({"l10n_pl_ksef_state": "sent", "l10n_pl_ksef_submission_id": submission.id,
                     "l10n_pl_ksef_sent_at": fields.Datetime.now(), "l10n_pl_ksef_invoice_ref": False})
        self._commit()
        self._fault_point("before_send", moves)
        files = {"%s.xml" % move.id: move._l10n_pl_ksef_xml() for move in moves}
        try:
            result = client.send_batch(files, offline_mode=offline)
        except ksef_errors.KSeFRateLimited:
            moves.write({"l10n_pl_ksef_state": "queued", "l10n_pl_ksef_submission_id": False,
                         "l10n_pl_ksef_sent_at": False})
            submission.unlink()
            raise
        except ksef_errors.KSeFBadRequest as exc:
            # the package was refused as a whole before processing: nothing stored
            moves.write({"l10n_pl_ksef_state": "queued", "l10n_pl_ksef_submission_id": False,
                         "l10n_pl_ksef_message": exc.message or str(exc)})
            submission.message = exc.message
            raise
        self._fault_point("after_send", moves)
        submission.write({"reference": result.reference_number, "state": "closed"})
        self._commit()
        self._settle_batch(client, submission, moves)


class L10nPlKsefConfig(models.Model):
    _inherit = "l10n_pl_ksef.config"

    send_on_post = fields.Boolean(
        string="Send to KSeF when an invoice is posted",
        help="Queue every posted customer invoice and credit note for KSeF at once; the queue is "
             "sent within a minute by the scheduled action. Otherwise invoices are sent from the "
             "Send wizard or with the \"Send to KSeF\" button.")


class ResCompany(models.Model):
    _inherit = "res.company"

    def _l10n_pl_ksef_is_connected(self):
        """The company sends through this module (connected to a KSeF environment)."""
        self.ensure_one()
        config = self.sudo().l10n_pl_ksef_config_id
        return bool(config and config.state in ("connected", "error") and config.auth_method)

    def _l10n_pl_ksef_send_on_post(self):
        self.ensure_one()
        return bool(self.sudo().l10n_pl_ksef_config_id.send_on_post)
