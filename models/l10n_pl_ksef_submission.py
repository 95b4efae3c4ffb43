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
import contextlib
import logging
from datetime import datetime, timedelta

import psycopg2.errors
from odoo import api, fields, models, modules, tools
from odoo.exceptions import UserError

from ..ksef import errors as ksef_errors
from ..ksef import upo as ksef_upo
from ..ksef.crypto import sha256_b64
from ..tools import ksef_i18n
from .l10n_pl_ksef_config_client import _transaction_failed

_logger = logging.getLogger(__name__)
CRON_XMLID = "l10n_pl_ksef.ir_cron_l10n_pl_ksef_send"
#: invoices per batch session: the KSeF limit (a session UPO page holds 10,000 entries, about
#: 6 MB; the core accepts session UPO pages up to ksef.client.SESSION_UPO_MAX_BYTES)
MAX_BATCH_INVOICES = 10000
#: per-company budgets, below KSeF's PRD limits (180 online sends/hour, 60 batch open+close/hour)
ONLINE_SENDS_PER_HOUR = 150
BATCH_SESSIONS_PER_HOUR = 20
#: how long a KSeF number may take before the cron asks again
POLL_DELAY_SECONDS = 5
#: first key of the PostgreSQL advisory lock of a company's send queue (the second is the
#: company id); "KSeF" in ASCII
QUEUE_LOCK_KEY = 0x4B536546


def _turn_order(companies, turns, now, min_gap):
    """Fair order for the office-scale crons: the companies whose last turn is oldest (or that
    never had one) first; a company that had its turn less than ``min_gap`` ago waits, so a
    run that Odoo repeats (work left) goes on with the others and ends once each had a turn,
    instead of starting over with the same company (``turns``: company id -> datetime)."""
    cutoff = now - min_gap
    due = companies.filtered(lambda c: not turns.get(c.id) or turns[c.id] <= cutoff)
    return due.sorted(lambda c: (bool(turns.get(c.id)), turns.get(c.id) or datetime.min, c.id))


def _caused_by(exc, kind):
    """``exc`` is a ``kind``, or was raised while handling one (e.g. a failed transaction
    noticed by cleanup code after a serialization failure)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, kind):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


class KsefFault(Exception):
    """Raised by the test fault hook to simulate a worker killed between two steps."""


#: seconds of a cron run's time budget kept for the step in progress: below it, the run stops
#: after the current company and Odoo runs the cron again for the rest
CRON_TIME_RESERVE = 120
# a company has one turn of the send cron per SEND_TURN_GAP at most (its own retries are
# triggered at their time, buttons send at once)
SEND_TURN_GAP = timedelta(seconds=60)


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
    state = fields.Selection(
        [("open", "Open"), ("closing", "Closing"), ("closed", "Closed"), ("done", "Processed")],
        default="open", required=True, readonly=True,
        help="Batch sessions: Open = parts being uploaded (never closed: KSeF will not process it); "
             "Closing = the close request was sent, its answer may have been lost; Closed = KSeF is "
             "processing; Processed = every invoice settled.")
    offline_mode = fields.Boolean(readonly=True)
    move_ids = fields.One2many("account.move", "l10n_pl_ksef_submission_id", string="Invoices",
                               readonly=True)
    invoice_count = fields.Integer(compute="_compute_invoice_count")
    upo_ids = fields.Many2many("ir.attachment", "l10n_pl_ksef_submission_upo_rel", "submission_id",
                               "attachment_id", string="Session UPO pages", readonly=True)
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
            # intended: each state is committed before the KSeF request that depends on it, so
            # a worker killed mid-way leaves a state the cron can settle (never sent twice)
            self.env.cr.commit()  # pylint: disable=invalid-commit

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
    @contextlib.contextmanager
    def _queue_lock(self, company):
        """``with Submission._queue_lock(company) as locked:`` the company's send queue, for one
        runner (cron worker, button, Send wizard) at a time.

        A session-level advisory lock of PostgreSQL: unlike row locks it survives the runner's
        own commits (every state is committed before the request that depends on it), so a
        second runner can never take the queue between two of them; it ends when released
        here or when the connection ends (a killed worker). ``locked`` is False when another
        process holds it.
        """
        cr = self.env.cr
        cr.execute("SELECT pg_try_advisory_lock(%s, %s)", [QUEUE_LOCK_KEY, company.id])
        locked = cr.fetchone()[0]
        try:
            yield locked
        finally:
            if locked:
                try:
                    cr.execute("SELECT pg_advisory_unlock(%s, %s)", [QUEUE_LOCK_KEY, company.id])
                except psycopg2.errors.InFailedSqlTransaction:
                    # the transaction failed (its error is on its way up and it is rolled back
                    # anyway): release on a clean one, never leave the lock to a pooled connection
                    cr.rollback()
                    cr.execute("SELECT pg_advisory_unlock(%s, %s)", [QUEUE_LOCK_KEY, company.id])

    @api.model
    @contextlib.contextmanager
    def _company_turn(self, company):
        """One company's turn of the send cron, in its own transaction.

        An error of any kind (a bug, a serialization failure, anything the engine does not
        handle itself) rolls back this company's work since its last commit (the others' is
        committed), is logged with its traceback, written on the company's KSeF settings
        (``send_error``, shown in the office cockpit) and never stops the other companies; the
        cron looks at the company again in a minute. In tests (no commits) a savepoint plays
        the transaction."""
        cr = self.env.cr
        real = self._can_commit()
        try:
            if real:
                yield
            else:
                with cr.savepoint():
                    yield
        except Exception as exc:  # noqa: BLE001 - one company must never stop the others
            if real:
                cr.rollback()
            self.env.invalidate_all()
            if _caused_by(exc, psycopg2.extensions.TransactionRollbackError):
                # another process changed the same rows at the same time: nothing was lost
                _logger.warning("KSeF: sending for %s rolled back, another process changed the "
                                "same data at the same time (%s); retried in a minute",
                                company.name, exc.__class__.__name__)
                problem = self.env._(
                    "Another process changed the same data at the same time; this turn was "
                    "rolled back (nothing was sent twice or lost) and is retried automatically.")
            else:
                _logger.exception("KSeF: sending for %s failed unexpectedly", company.name)
                problem = self.env._(
                    "The scheduled sending stopped on an unexpected error (%(error)s). Invoices "
                    "already sent keep their state; the others stay queued and are retried "
                    "automatically. If it repeats, send the server log to your administrator.",
                    error=repr(exc)[:300])
            company.sudo().l10n_pl_ksef_config_id._l10n_pl_ksef_send_health(problem)
            self._trigger_cron(60)

    @api.model
    def _busy_error(self, moves):
        return UserError(self.env._(
            "%(names)s: being sent to KSeF by another process, try again in a moment.",
            names=", ".join(moves.mapped("name")) or "-"))

    @api.model
    def _cron_process(self):
        moves = self.env["account.move"].search([("l10n_pl_ksef_state", "in", ("queued", "sent"))])
        companies = moves.company_id
        real_cron = self._can_commit()
        if real_cron:
            configs = companies.sudo().l10n_pl_ksef_config_id
            companies = _turn_order(companies, {c.company_id.id: c.send_turn_at for c in configs},
                                    fields.Datetime.now(), SEND_TURN_GAP)
        for index, company in enumerate(companies):
            if index and self._can_commit():
                # office scale: each company is its own step of the cron run; near the end of
                # the run's time budget Odoo runs the cron again for the companies left (the
                # next run starts with the companies KSeF has not answered for longest)
                if self.env["ir.cron"]._commit_progress(1, remaining=len(companies) - index) \
                        < CRON_TIME_RESERVE:
                    return
            if not company._l10n_pl_ksef_is_connected():
                continue
            with self._queue_lock(company) as locked:
                if not locked:
                    # another worker (or a button) is sending this company's invoices right now
                    _logger.info("KSeF: the send queue of %s is being processed by another "
                                 "process; skipped", company.name)
                    continue
                # a new transaction (snapshot) that sees what the previous holder committed
                self._commit()
                config = company.sudo().l10n_pl_ksef_config_id
                with self._company_turn(company):
                    if real_cron:
                        # its turn, written under the queue lock on a fresh snapshot (no runner
                        # writes it from an older one; skipped while the import holds the row)
                        config._l10n_pl_ksef_write_quietly({"send_turn_at": fields.Datetime.now()})
                    try:
                        # what the cron writes on the invoices (chatter lines, KSeF messages) is
                        # in the company's language, not in the language of the cron's user
                        self.with_context(lang=company.partner_id.lang or self.env.lang) \
                            ._process_company(company)
                    except UserError as exc:
                        # said by our own code (e.g. not connected): the work done so far stays
                        _logger.warning("KSeF: sending for %s failed: %s", company.name, exc)
                        config._l10n_pl_ksef_send_health(exc.args[0] if exc.args else str(exc))
                self._commit()
        if companies and real_cron:
            # every company had its turn: nothing left for this run (a company that needs a
            # later look has triggered the cron at its own time). Without this the progress
            # says "1 left" and Odoo runs the whole cron again at once, over and over.
            self.env["ir.cron"]._commit_progress(1, remaining=0)

    @api.model
    def _process_company(self, company, moves=None, interactive=False):
        """Settle the company's sent invoices, then send its queued ones.

        ``moves``: restrict to these invoices (button / Send wizard); None = all.
        ``interactive`` (button / Send wizard): takes the company's queue lock itself and says
        so when another process is sending these invoices (the cron holds the lock already).
        Returns the processed moves.
        """
        if not interactive:
            return self._process_company_locked(company, moves, interactive)
        with self._queue_lock(company) as locked:
            if not locked:
                raise self._busy_error(moves if moves is not None else self.env["account.move"])
            return self._process_company_locked(company, moves, interactive)

    @api.model
    def _process_company_locked(self, company, moves, interactive):
        Move = self.env["account.move"]
        domain = [("company_id", "=", company.id), ("l10n_pl_ksef_state", "in", ("queued", "sent"))]
        if moves is not None:
            domain.append(("id", "in", moves.ids))
        todo = Move.search(domain, order="id")
        # row locks as well: a transaction that changed these invoices and has not committed
        # yet (a button that released the queue lock) is never overtaken
        try:
            with self.env.cr.savepoint(flush=False):
                locked = todo.try_lock_for_update()
        except psycopg2.errors.SerializationFailure:
            # changed by a transaction that committed after ours began
            locked = Move
        if locked != todo:
            if interactive:
                raise self._busy_error(todo - locked)
            self._trigger_cron(60)
            todo = locked
        if not todo:
            return todo
        config = company._l10n_pl_ksef_get_config()
        try:
            with config._l10n_pl_ksef_client() as client:
                self._settle(client, company, todo.filtered(lambda m: m.l10n_pl_ksef_state == "sent"))
                queued = todo.filtered(lambda m: m.l10n_pl_ksef_state == "queued")
                if queued:
                    self._send(client, company, queued)
            # KSeF answered every request: an unavailability Odoo recorded by itself is over
            self.env["l10n_pl_ksef.outage"]._l10n_pl_ksef_end_automatic(company)
            config._l10n_pl_ksef_send_health(False)
        except ksef_errors.KSeFAuthPending as exc:
            # KSeF is still checking the login: nothing failed, nothing was sent; a few seconds
            message = ksef_i18n.error_message(self.env, exc)
            if interactive:
                raise UserError(message) from exc
            self._trigger_cron(5)
            self._note(todo.filtered(lambda m: m.l10n_pl_ksef_state == "queued"), message)
        except ksef_errors.KSeFRateLimited as exc:
            wait = int(exc.retry_after or 60)
            _logger.info("KSeF: rate limited for %s, next attempt in %s s", company.name, wait)
            self._trigger_cron(wait)
            self._note(todo.filtered(lambda m: m.l10n_pl_ksef_state == "queued"), self.env._(
                "KSeF asked to slow down (too many requests); the invoice will be sent automatically "
                "in %(seconds)s seconds.", seconds=wait))
        except ksef_errors.KSeFTimeoutError as exc:
            # no answer in time (the request may have been carried out): KSeF is not known to be
            # down, so nothing switches to offline; the cron settles and retries
            self._ksef_retry_later(company, todo, exc)
        except (ksef_errors.KSeFUnavailable, ksef_errors.KSeFTransportError) as exc:
            # 503 (unavailability reported by KSeF) or no connection at all (refused, DNS)
            self._ksef_unreachable(company, todo, exc, interactive)
        except ksef_errors.KSeFServerError as exc:
            # a single 5xx does not mean KSeF is unavailable
            self._ksef_retry_later(company, todo, exc)
        except ksef_errors.KSeFError as exc:
            message = ksef_i18n.error_message(self.env, exc)
            self._note(todo.filtered(lambda m: m.l10n_pl_ksef_state == "queued"), message)
            if interactive:
                raise UserError(message) from exc
            _logger.warning("KSeF: %s: %s", company.name, message)
            config._l10n_pl_ksef_send_health(message)
        return todo

    @api.model
    def _note(self, moves, message):
        moves._l10n_pl_ksef_note(message)

    @api.model
    def _ksef_retry_later(self, company, moves, exc):
        """KSeF failed once (5xx) or did not answer in time: everything stays as it is (sent
        invoices are settled by hash before anything is resent) and the cron tries again."""
        message = ksef_i18n.error_message(self.env, exc)
        _logger.info("KSeF: %s: %s; retrying later", company.name, message)
        company.sudo().l10n_pl_ksef_config_id._l10n_pl_ksef_send_health(message)
        self._trigger_cron(60)
        self._note(moves.filtered(lambda m: m.l10n_pl_ksef_state == "queued"), self.env._(
            "KSeF did not handle the request (%(error)s). The invoice stays queued and will be sent "
            "automatically in a minute.", error=message))

    @api.model
    def _ksef_unreachable(self, company, moves, exc, interactive):
        """KSeF is unreachable or reports unavailability: queued online invoices switch to an
        offline mode when the company has an Offline certificate: ``offline`` when KSeF reports
        unavailability (503, recorded as an automatic outage) or an outage is recorded,
        ``emergency`` while a failure declared by a KSeF manager lasts, and ``offline24`` when
        KSeF simply cannot be reached and nothing is announced (the cause may be our own
        network; offline24 has the earliest deadline, so no legal deadline is missed).
        Everything is retried by the cron."""
        message = ksef_i18n.error_message(self.env, exc)
        company.sudo().l10n_pl_ksef_config_id._l10n_pl_ksef_send_health(message)
        self._trigger_cron(300)
        queued = moves.filtered(
            lambda m: m.l10n_pl_ksef_state == "queued" and m.l10n_pl_ksef_mode == "online")
        switchable = queued.filtered(lambda m: not m._l10n_pl_ksef_offline_problems())
        if switchable:
            Outage = self.env["l10n_pl_ksef.outage"]
            current = Outage._l10n_pl_ksef_current(company)
            if isinstance(exc, ksef_errors.KSeFUnavailable) or current:
                # KSeF itself reports unavailability, or an outage is recorded (announced by
                # the ministry, or reported by KSeF earlier): the offline / emergency mode
                outage = current or Outage._l10n_pl_ksef_start_automatic(
                    company, self.env._("Recorded automatically: %(error)s", error=message))
                mode = "emergency" if outage.kind == "emergency" else "offline"
            else:
                # no answer at all and nothing announced: the cause may be on our side (our
                # network), which the law does not count as KSeF's unavailability, so the
                # taxpayer's own offline24 mode applies (due the next business day after issue)
                outage, mode = None, "offline24"
            switchable._l10n_pl_ksef_switch_offline(mode, outage=outage, reason=message)
        self._note(queued - switchable, self.env._(
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
                sub_moves._l10n_pl_ksef_requeue()
                continue
            unknown = sub_moves.filtered(lambda m: not m.l10n_pl_ksef_invoice_ref)
            for move in unknown:
                status = client.find_invoice(move.l10n_pl_ksef_invoice_hash, [submission.reference])
                if status is None:
                    # KSeF provably does not hold it in that session: safe to send again
                    move._l10n_pl_ksef_requeue()
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
        """Settle the invoices of a batch session by their hashes; never resend blindly.

        The session reference is stored before any part is uploaded, and the state ``closing``
        before the close request: KSeF processes a batch only after it is closed, and only this
        module closes it. So:

        * no reference: the open itself failed or timed out; nothing was uploaded or closed,
          KSeF cannot process anything in it (an unclosed session is cancelled) -> queued again;
        * status 100 (open) and the close was never sent (state ``open``) -> queued again;
        * status 100 and the close may have been lost (state ``closing``) -> close again (a
          session is processed at most once; a second close is refused, never duplicated);
        * 150/170: still processing -> ask again later;
        * final: the session's invoices are listed (1,000 per request) and matched by hash;
          the UPO page(s) are downloaded once and linked to every accepted invoice; invoices
          KSeF does not list in a final session were provably not taken -> queued again.
        """
        Move = self.env["account.move"]
        if not submission.reference:
            self._requeue(moves, submission, self.env._(
                "The KSeF batch session could not be opened; nothing was sent. The invoice will be "
                "sent again automatically."))
            return
        session = client.resume_batch_session(submission.reference)
        status = session.status()
        if status.code == 100:
            if submission.state == "open":
                self._requeue(moves, submission, self.env._(
                    "The upload of the KSeF batch session %(ref)s did not finish and the session was "
                    "never closed, so KSeF will not process it. The invoice will be sent again "
                    "automatically.", ref=submission.reference))
                return
            try:
                session.close()
            except ksef_errors.KSeFBadRequest as exc:
                # refused: a missing/expired upload; KSeF cancels the session by itself
                _logger.info("KSeF: closing batch %s again refused: %s", submission.reference, exc)
                if not session.status().is_open:
                    self._trigger_cron(POLL_DELAY_SECONDS)
                    return
                self._requeue(moves, submission, self.env._(
                    "KSeF refused to close the batch session %(ref)s (%(error)s); it will not be "
                    "processed. The invoice will be sent again automatically.",
                    ref=submission.reference, error=ksef_i18n.error_message(self.env, exc)))
                return
            submission.state = "closed"
            self._commit()
            status = session.status()
        if not status.is_final:
            self._trigger_cron(POLL_DELAY_SECONDS)
            return
        by_hash = {}
        for move in moves:
            by_hash.setdefault(move.l10n_pl_ksef_invoice_hash, Move)
            by_hash[move.l10n_pl_ksef_invoice_hash] |= move
        listed = session.invoices() if status.code in (200, 445) else []
        upo_entries = self._batch_upo(session, submission, status) if status.code == 200 else {}
        pending = Move
        settled = Move
        for invoice_status in listed:
            group = by_hash.pop(invoice_status.invoice_hash, None)
            if not group:
                continue
            for move in group:
                result = move._l10n_pl_ksef_apply_status(invoice_status, log=False)
                if result == "accepted":
                    settled |= move
                    attachment, entry = upo_entries.get(move.l10n_pl_ksef_number, (None, None))
                    if attachment:
                        move._l10n_pl_ksef_attach_upo(shared=attachment, entry=entry)
                elif result == "sent":
                    pending |= move
                else:
                    settled |= move
        settled._l10n_pl_ksef_log_outcome()
        # invoices KSeF does not list in this final session were never taken: safe to send again
        leftovers = Move.union(*by_hash.values()) if by_hash else Move
        if leftovers:
            details = "; ".join(status.details or [])
            self._requeue(leftovers, submission, self.env._(
                "KSeF did not take the invoice in batch session %(ref)s (status %(code)s: "
                "%(description)s%(details)s). It will be sent again automatically.",
                ref=submission.reference, code=status.code, description=status.description,
                details=" - %s" % details if details else ""), close=False)
        if pending:
            self._trigger_cron(POLL_DELAY_SECONDS)
        else:
            submission.write({"state": "done", "message": status.description})
        self._commit()

    @api.model
    def _requeue(self, moves, submission, message, close=True):
        """Back to ``queued``: KSeF provably did not take these invoices in ``submission``."""
        moves._l10n_pl_ksef_requeue(message)
        if close:
            submission.write({"state": "done", "message": message})
        self._commit()

    @api.model
    def _batch_upo(self, session, submission, status):
        """Download the session UPO page(s) once -> {KSeF number: (attachment, Dokument entry)}.

        ``session``: the core's batch session (``ksef.batch.BatchSession``) of ``submission``.

        Each page is kept whole as an attachment of the session (a real UPO is signed: its
        signature covers the page, so it is not cut per invoice); every accepted invoice links to
        its page and records its own ``Dokument`` entry in ``l10n_pl_ksef_upo_entry``.
        """
        attachments = submission.upo_ids
        if not attachments and status.upo_pages:
            Attachment = self.env["ir.attachment"].sudo()
            for number, page in enumerate(status.upo_pages, 1):
                try:
                    data = session.upo_page(page.reference_number)
                except ksef_errors.KSeFError as exc:
                    _logger.info("KSeF: UPO page %s of %s not available yet: %s",
                                 page.reference_number, submission.reference, exc)
                    continue
                attachments |= Attachment.create({
                    "name": "UPO-%s-%d.xml" % (submission.reference, number), "raw": data,
                    "mimetype": "application/xml", "res_model": self._name, "res_id": submission.id,
                    "description": self.env._("KSeF official receipt (UPO) of batch session %(ref)s, "
                                              "page %(page)s", ref=submission.reference, page=number)})
            submission.upo_ids = attachments
        entries = {}
        for attachment in attachments:
            try:
                documents = ksef_upo.upo_documents(attachment.sudo().raw)
            except ksef_errors.KSeFError as exc:
                _logger.warning("KSeF: UPO %s unreadable: %s", attachment.name, exc)
                continue
            for number, document in documents.items():
                entries[number] = (attachment, ksef_upo.format_document(document))
        return entries

    # ------------------------------------------------------------------ sending
    @api.model
    def _send(self, client, company, moves):
        threshold = company._l10n_pl_ksef_batch_threshold()
        corrections = moves.filtered("l10n_pl_ksef_corrected_hash")
        if corrections:
            # a technical correction is sent in an online session only
            self._send_online(client, company, corrections)
            moves -= corrections
        for offline, group in moves.grouped(lambda m: m._l10n_pl_ksef_is_offline()).items():
            if len(group) > threshold and self._budget_batch(company):
                for start in range(0, len(group), MAX_BATCH_INVOICES):
                    self._send_batch(client, company, group[start:start + MAX_BATCH_INVOICES], offline)
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
                move._l10n_pl_ksef_mark_sent(submission)
                self._commit()
                self._fault_point("before_send", move)
                try:
                    result = session.send_invoice(
                        move._l10n_pl_ksef_xml(), offline_mode=move._l10n_pl_ksef_is_offline(),
                        hash_of_corrected_invoice=move.l10n_pl_ksef_corrected_hash or None)
                except ksef_errors.KSeFRateLimited:
                    # 429: KSeF did not take it
                    move._l10n_pl_ksef_requeue()
                    raise
                except ksef_errors.KSeFBadRequest as exc:
                    # refused synchronously (validation): nothing stored by KSeF
                    move._l10n_pl_ksef_reject(exc.exception_code or exc.http_status,  # e.g. 21405 or 400
                                              ksef_i18n.error_message(self.env, exc))
                    self._commit()
                    continue
                # any other failure (timeout, 5xx, broken connection): outcome unknown, the
                # invoice stays 'sent' without a reference and is settled by find_invoice
                self._fault_point("after_send", move)
                move._l10n_pl_ksef_mark_received(result.reference_number)
                sent |= move
                self._commit()
        finally:
            try:
                session.close()
                if not _transaction_failed(self.env.cr):
                    # (in a failed transaction the error on its way up rolls this back anyway;
                    # writing would only hide it)
                    submission.state = "closed"
            except ksef_errors.KSeFError as exc:
                _logger.info("KSeF: closing session %s failed: %s", submission.reference, exc)
        # first look at the results right away (the emulator and KSeF are usually quick)
        self._settle(client, company, sent)

    @api.model
    def _batch_file_name(self, move):
        """The file name of an invoice inside the batch ZIP (unique, plain, ASCII)."""
        return "%d.xml" % move.id

    @api.model
    def _send_batch(self, client, company, moves, offline):
        """Send ``moves`` in one batch session (one ZIP, encrypted parts), never twice.

        The core owns the protocol (``client.open_batch_session``: ZIP, key, encryption, parts;
        then ``upload``, ``close``); this method owns the states. Order of writes (each
        committed before the request that depends on it):
        state ``sent`` + session record -> open (POST /sessions/batch) -> session reference ->
        part uploads -> state ``closing`` -> close -> ``closed`` -> settle by hash.
        A crash or timeout anywhere leaves a state ``_settle_batch`` resolves by asking KSeF.
        """
        Move = self.env["account.move"]
        submission = self.create({"company_id": company.id, "kind": "batch", "offline_mode": offline})
        moves._l10n_pl_ksef_mark_sent(submission)
        self._commit()
        self._fault_point("before_send", moves)
        files = [(self._batch_file_name(move), move._l10n_pl_ksef_xml()) for move in moves]
        for move, (_name, xml) in zip(moves, files):
            # an empty file is refused by the core below, before anything is sent
            if xml and sha256_b64(xml) != move.l10n_pl_ksef_invoice_hash:
                raise UserError(self.env._(
                    "The stored FA(3) file of %(name)s no longer matches its hash; reset the invoice "
                    "to draft and post it again.", name=move.name))
        try:
            session = client.open_batch_session(files, offline_mode=offline)
        except ksef_errors.KSeFError as exc:
            # refused (locally or by KSeF), rate limited or timed out: no part was uploaded and
            # the session (if KSeF opened one) is never closed, so KSeF cannot process anything
            # of it -> queued again
            self._requeue(moves, submission, ksef_i18n.error_message(self.env, exc))
            raise
        submission.reference = session.reference_number
        self._commit()
        self._fault_point("batch_opened", moves)
        try:
            session.upload()
        except ksef_errors.KSeFError as exc:
            # not closed: KSeF never processes this session
            self._requeue(moves, submission, ksef_i18n.error_message(self.env, exc))
            raise
        submission.state = "closing"
        self._commit()
        self._fault_point("before_close", moves)
        try:
            session.close()
        except ksef_errors.KSeFRateLimited:
            raise       # not closed; the cron closes it at Retry-After (state closing)
        except ksef_errors.KSeFError as exc:
            # unknown outcome (timeout, 5xx) or refused: settled from KSeF's own session status
            _logger.info("KSeF: closing batch %s: %s", session.reference_number, exc)
        else:
            submission.state = "closed"
            self._commit()
        self._fault_point("after_send", moves)
        try:
            self._settle_batch(client, submission, moves)
        except ksef_errors.KSeFRateLimited:
            raise
        except ksef_errors.KSeFError as exc:
            # the batch is in KSeF's hands; its results are collected by the next cron run
            _logger.info("KSeF: results of batch %s not read yet: %s", session.reference_number, exc)
            self._trigger_cron(POLL_DELAY_SECONDS)
        return Move
