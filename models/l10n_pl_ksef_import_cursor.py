"""Incremental import of purchase invoices from KSeF: one cursor per company and subject type.

How a run works (``l10n_pl_ksef.import.cursor._l10n_pl_ksef_run``)
------------------------------------------------------------------
1. The cursor row is locked with ``SELECT ... FOR UPDATE NOWAIT``; a run that
   cannot get the lock (another cron worker or a button is importing for the
   same company) stops at once without touching anything.
2. The per-company minimum interval (15 minutes at least, as the ministry asks)
   and any ``Retry-After`` received earlier are respected; no run sleeps.
3. The core returns one increment of documents from the checkpoint, by
   PermanentStorage date (so late offline invoices with old issue dates are
   caught), plus the next checkpoint. It is fetched in steps and no worker waits
   for KSeF: ``ksef.sync.begin_export_increment`` asks for the package, and the
   pending export (reference, its AES key encrypted by the vault) is stored on the
   cursor; ``poll_export_increment`` looks once. While KSeF is still preparing the
   package the run ends ("Waiting for KSeF") and the cron is triggered again a
   few seconds later, up to a minute apart; that run picks the export up
   (the minimum interval does not apply to it) and continues the same run record.
4. The documents become draft vendor bills (or visible error records), committed
   every ``l10n_pl_ksef.import_commit_every`` (200) bills; the new checkpoint
   (and the KSeF numbers stored exactly at it, passed as ``seen`` next time) is
   written IN THE SAME TRANSACTION as the last of them: the cursor only moves
   past invoices that are safely stored. A crash before that loses nothing; the
   next run fetches the same increment again and the unique index on (company,
   KSeF number, move type) plus the lookup by KSeF number make that idempotent.
   Between chunks the lock is taken again; if another run got it, this one stops.
5. A truncated increment is followed by the next one in the same run, up to a
   request budget; the rest is left to a re-triggered cron.
"""
import contextlib
import json
import logging
from datetime import timedelta, timezone

import psycopg2.errors
from odoo import api, fields, models, modules
from odoo.exceptions import UserError

from ..ksef import errors as ksef_errors
from ..ksef import sync as ksef_sync
from ..ksef.records import from_iso as _from_iso
from ..ksef.records import naive_utc as _naive_utc
from ..ksef.records import to_iso as _to_iso
from ..tools import ksef_i18n, vault
from .l10n_pl_ksef_submission import _caused_by, _turn_order

_logger = logging.getLogger(__name__)

SUBJECT_TYPES = [
    ("Subject2", "Buyer (purchase invoices)"),
    ("Subject3", "Third party (e.g. local-government unit, VAT group member)"),
]
#: the ministry asks for no more than one incremental download every 15 minutes
MIN_INTERVAL_MINUTES = 15
PARAM_INTERVAL = "l10n_pl_ksef.import_min_interval_minutes"
PARAM_MAX_INCREMENTS = "l10n_pl_ksef.import_max_increments_per_run"
DEFAULT_MAX_INCREMENTS = 10
PARAM_CHUNK = "l10n_pl_ksef.import_commit_every"
DEFAULT_CHUNK = 200
#: a pending export older than this is given up and asked for again (KSeF keeps packages for
#: a limited time; an export that never finishes must not block the import)
EXPORT_MAX_AGE = timedelta(hours=1)
#: seconds between looks at an export KSeF is preparing, by how long it has been waiting
EXPORT_POLL_STEPS = ((30, 5), (120, 15), (600, 30))
EXPORT_POLL_MAX = 60
#: seconds of a cron run's time budget kept for the company in progress
CRON_TIME_RESERVE = 300
RELOCK_WAIT = "2s"


def _in_test():
    return bool(modules.module.current_test)


class L10nPlKsefImportCursor(models.Model):
    _name = "l10n_pl_ksef.import.cursor"
    _description = "KSeF import cursor (high-water mark per company and subject type)"
    _order = "company_id, subject_type"
    _rec_name = "subject_type"

    company_id = fields.Many2one("res.company", required=True, index=True, ondelete="cascade")
    subject_type = fields.Selection(SUBJECT_TYPES, required=True, default="Subject2")
    active = fields.Boolean(default=True)
    checkpoint = fields.Char(
        readonly=True, copy=False,
        help="PermanentStorage date (ISO 8601, UTC) up to which every invoice is stored in "
             "Odoo. Only moves forward after the invoices it covers are committed.")
    checkpoint_date = fields.Datetime("Imported up to", compute="_compute_checkpoint_date")
    boundary_numbers = fields.Text(
        readonly=True, copy=False,
        help="KSeF numbers (JSON list) already received that were stored in KSeF exactly at the "
             "checkpoint: the next window starts at that moment and would list them again.")
    start_date = fields.Datetime(
        "Import invoices stored since",
        default=lambda self: fields.Datetime.now() - timedelta(days=30),
        help="Where the first run starts (KSeF PermanentStorage date).")
    last_run_at = fields.Datetime(readonly=True, copy=False)
    next_run_after = fields.Datetime(
        readonly=True, copy=False,
        help="No download before this time (minimum interval, or KSeF's Retry-After).")
    last_run_id = fields.Many2one("l10n_pl_ksef.import.run", readonly=True, copy=False)
    export_reference = fields.Char(
        "Export being prepared", readonly=True, copy=False,
        help="Reference of the package KSeF is preparing for the next import; the scheduled "
             "import picks it up as soon as KSeF has it ready.")
    export_started_at = fields.Datetime(readonly=True, copy=False)
    export_poll_after = fields.Datetime(
        readonly=True, copy=False, help="The next look at the export being prepared.")
    export_state = fields.Text(
        readonly=True, copy=False, groups="base.group_system",
        help="The pending export, encrypted (it holds the package's AES key).")
    last_error = fields.Text(
        "Last import problem", readonly=True, copy=False,
        help="What stopped the last import of this company; cleared when an import succeeds. "
             "The other companies are not affected.")
    last_error_at = fields.Datetime("Import problem at", readonly=True, copy=False)
    responsible_user_id = fields.Many2one(
        "res.users", string="Accountant",
        help="Gets a to-do activity on every new bill. Default: the user who runs the import, "
             "or, for the scheduled import, an accounting administrator of the company.")

    _company_subject_unique = models.UniqueIndex(
        "(company_id, subject_type)",
        "A company has one import cursor per subject type.",
    )

    @api.depends("checkpoint")
    def _compute_checkpoint_date(self):
        for cursor in self:
            cursor.checkpoint_date = _naive_utc(_from_iso(cursor.checkpoint))

    # ------------------------------------------------------------------
    # access
    # ------------------------------------------------------------------
    @api.model
    def _l10n_pl_ksef_get(self, company, subject_type="Subject2"):
        """The cursor of ``company`` and ``subject_type`` (sudo), created when missing."""
        cursors = self.sudo().with_context(active_test=False)
        cursor = cursors.search([("company_id", "=", company.id),
                                 ("subject_type", "=", subject_type)], limit=1)
        if not cursor:
            cursor = cursors.create({"company_id": company.id, "subject_type": subject_type})
        return cursor

    def _l10n_pl_ksef_relock(self):
        """Take the cursor again after one of our own commits. Another runner may hold it for a
        moment only to find that this run is under way (and skip): PostgreSQL waits for it up
        to RELOCK_WAIT (lock_timeout, no sleeping here), or the import would stop half-way
        until its next run."""
        self.ensure_one()
        cr = self.env.cr
        cr.execute("SHOW lock_timeout")
        previous = cr.fetchone()[0]
        try:
            with cr.savepoint(flush=False):
                cr.execute("SET LOCAL lock_timeout = %s", [RELOCK_WAIT], log_exceptions=False)
                cr.execute("SELECT id FROM l10n_pl_ksef_import_cursor WHERE id = %s FOR UPDATE",
                           [self.id], log_exceptions=False)
        except (psycopg2.errors.LockNotAvailable, psycopg2.errors.SerializationFailure):
            return False        # held all that time, or changed by another run: it took over
        finally:
            cr.execute("SET LOCAL lock_timeout = %s", [previous])
        return self._l10n_pl_ksef_try_lock()     # ours now (re-entrant), and the settings row

    def _l10n_pl_ksef_try_lock(self):
        """Lock this cursor row for the transaction; False when someone else holds it."""
        self.ensure_one()
        try:
            with self.env.cr.savepoint(flush=False):
                # SKIP LOCKED: no row (rather than an error logged by Odoo) when held
                # log_exceptions=False: a serialization failure here is an answer ("another run
                # changed it"), not an error for the log
                self.env.cr.execute(
                    "SELECT id FROM l10n_pl_ksef_import_cursor WHERE id = %s "
                    "FOR UPDATE SKIP LOCKED", [self.id], log_exceptions=False)
                locked = bool(self.env.cr.fetchone())
                if locked:
                    # the company's KSeF settings too (the run saves refreshed access tokens on
                    # them): a second runner never writes them from an older snapshot
                    self.env.cr.execute(
                        "SELECT id FROM l10n_pl_ksef_config WHERE company_id = %s "
                        "FOR NO KEY UPDATE SKIP LOCKED", [self.company_id.id], log_exceptions=False)
                    locked = bool(self.env.cr.fetchall()) or not self.env["l10n_pl_ksef.config"] \
                        .sudo().search_count([("company_id", "=", self.company_id.id)])
        except (psycopg2.errors.LockNotAvailable, psycopg2.errors.SerializationFailure):
            # changed by a run that committed after our snapshot began
            return False
        if not locked:
            return False  # held by another run
        self.invalidate_recordset()  # read what the other run may have committed
        return True

    def _l10n_pl_ksef_min_interval(self):
        value = self.env["ir.config_parameter"].sudo().get_param(PARAM_INTERVAL)
        try:
            minutes = int(value) if value else MIN_INTERVAL_MINUTES
        except ValueError:
            minutes = MIN_INTERVAL_MINUTES
        return timedelta(minutes=max(minutes, MIN_INTERVAL_MINUTES))

    def _l10n_pl_ksef_max_increments(self):
        value = self.env["ir.config_parameter"].sudo().get_param(PARAM_MAX_INCREMENTS)
        try:
            return max(1, int(value)) if value else DEFAULT_MAX_INCREMENTS
        except ValueError:
            return DEFAULT_MAX_INCREMENTS

    def _l10n_pl_ksef_commit(self):
        """Commit what is stored so far (not inside tests, which roll back at the end)."""
        if _in_test():
            self.env.flush_all()
        else:
            # the cursor may only move once its bills are durable, and a large package must
            # survive a worker time limit: committing here is the design (see module doc)
            self.env.cr.commit()  # pylint: disable=invalid-commit

    def _l10n_pl_ksef_trigger_cron(self, at):
        cron = self.env.ref("l10n_pl_ksef.ir_cron_l10n_pl_ksef_import", raise_if_not_found=False)
        if cron:
            cron.sudo()._trigger(at)

    # ------------------------------------------------------------------
    # entry points
    # ------------------------------------------------------------------
    @api.model
    def _cron_l10n_pl_ksef_import(self):
        """Scheduled import for every company connected to KSeF."""
        configs = self.env["l10n_pl_ksef.config"].sudo().search([("state", "!=", "not_connected")])
        companies = configs.company_id
        if not _in_test():
            # fair share: the companies imported longest ago first; a company whose cursor must
            # still wait (the ministry's 15 minutes, an export being prepared) has no turn now
            now = fields.Datetime.now()
            cursors = self.sudo().search([("company_id", "in", companies.ids)])
            waiting = set(cursors.filtered(lambda c: not c._l10n_pl_ksef_due(now)).company_id.ids)
            turns = {cursor.company_id.id: cursor.last_run_at for cursor in cursors}
            companies = _turn_order(companies.filtered(lambda c: c.id not in waiting), turns, now,
                                    timedelta(0))
        for index, company in enumerate(companies):
            if index and not _in_test():
                # each company is a step of the run: committed, and near the end of the run's
                # time budget Odoo runs the cron again for the companies left (those KSeF has
                # not answered for longest come first)
                if self.env["ir.cron"]._commit_progress(1, remaining=len(companies) - index) \
                        < CRON_TIME_RESERVE:
                    return
            cursors = self.sudo().search([("company_id", "=", company.id)])
            if not cursors:
                cursors = self._l10n_pl_ksef_get(company)
            for cursor in cursors:
                cursor._l10n_pl_ksef_cron_turn()
        if companies and not _in_test():
            # every company had its turn: nothing left (else Odoo runs the cron again at once)
            self.env["ir.cron"]._commit_progress(1, remaining=0)

    def _l10n_pl_ksef_due(self, now):
        """The scheduled import may run this cursor now: an export KSeF is preparing once its
        next look is due (the minimum interval counted when it was asked for), otherwise once
        the minimum interval (or KSeF's Retry-After) has passed."""
        self.ensure_one()
        if self.export_reference:
            return not self.export_poll_after or self.export_poll_after <= now
        return not self.next_run_after or self.next_run_after <= now

    def _l10n_pl_ksef_cron_turn(self):
        """This cursor's turn of the scheduled import, in its own transaction(s).

        An error of any kind that escapes the run (a serialization failure, a bug outside the
        run's own handling) rolls back what was not committed yet (the bills of earlier chunks
        and of the other companies stay committed), is logged, shown on the cursor
        (``last_error``, in the office cockpit) and on its run, and never stops the other
        companies. In tests (no commits) a savepoint plays the transaction."""
        self.ensure_one()
        cr = self.env.cr
        try:
            if _in_test():
                with cr.savepoint():
                    self._l10n_pl_ksef_run(trigger="cron")
            else:
                self._l10n_pl_ksef_run(trigger="cron")
        except Exception as exc:  # noqa: BLE001 - one company must never stop the others
            if not _in_test():
                cr.rollback()
            self.env.invalidate_all()
            company = self.company_id
            if _caused_by(exc, psycopg2.extensions.TransactionRollbackError):
                # another runner changed the same rows at the same moment: nothing lost (its
                # checkpoint moved in its own transaction), ours is rolled back
                message = self.env._(
                    "Another process changed the same data at the same time; this import was "
                    "rolled back (nothing was lost or imported twice) and continues at the next "
                    "run from the same point.")
                shown = self._l10n_pl_ksef_after_failure(message)
                # a runner importing this company right now explains it (INFO); none: WARNING
                _logger.log(logging.WARNING if shown else logging.INFO,
                            "KSeF import for company %s: another run changed the same data at "
                            "the same time (%s); rolled back", company.id,
                            exc.__class__.__name__)
            else:
                _logger.exception("KSeF import failed for company %s", company.id)
                self._l10n_pl_ksef_after_failure(self.env._(
                    "The import from KSeF stopped on an unexpected error (%(error)s). Nothing "
                    "after the last stored invoice was skipped; the next run continues from the "
                    "same point. If it repeats, send the server log to your administrator.",
                    error=repr(exc)[:300]))

    def _l10n_pl_ksef_after_failure(self, message):
        """After a rolled back run: when no other runner holds the cursor, its run left
        "Running" ends as failed and the cursor shows ``message``; committed."""
        self.ensure_one()
        if not self._l10n_pl_ksef_try_lock():
            return False    # another runner is importing this company right now: it reports
        now = fields.Datetime.now()
        stale = self.env["l10n_pl_ksef.import.run"].sudo().search(
            [("cursor_id", "=", self.id), ("state", "=", "running")])
        stale.write({"state": "failed", "finished_at": now, "message": message})
        self.sudo().write({"last_error": message, "last_error_at": now})
        self._l10n_pl_ksef_commit()
        return True

    @api.model
    def action_l10n_pl_ksef_import_now(self):
        """Button "Import from KSeF now" (bills list, purchase journal): current company."""
        company = self.env.company
        if not self.env.user.has_group("l10n_pl_ksef.group_ksef_user") and \
                not self.env.user.has_group("account.group_account_invoice"):
            raise UserError(self.env._("You are not allowed to import invoices from KSeF."))
        result = self._l10n_pl_ksef_get(company)._l10n_pl_ksef_run(
            trigger="manual", run_user=self.env.user)
        level = {"done": "success", "partial": "info", "waiting": "info", "skipped": "warning"}.get(
            result["state"], "danger")
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Import from KSeF"),
                "message": result["message"],
                "type": level,
                "sticky": level == "danger",
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    # ------------------------------------------------------------------
    # the run
    # ------------------------------------------------------------------
    def _l10n_pl_ksef_run(self, trigger="cron", run_user=None, client=None):
        """Import everything new for this cursor. Returns {"state", "message", "run"}.

        ``client``: an authenticated ksef.client.KSeFClient (default: the company's).
        """
        self.ensure_one()
        cursor = self.sudo()
        company = cursor.company_id
        if not cursor._l10n_pl_ksef_try_lock():
            message = self.env._("Another KSeF import for %(company)s is running; nothing was done. "
                        "Its bills will appear when it finishes.", company=company.display_name)
            _logger.info("KSeF import for company %s skipped: cursor locked", company.id)
            return {"state": "skipped", "message": message, "run": None}

        now = fields.Datetime.now()
        if cursor.export_reference:
            # KSeF is preparing the package this cursor asked for: the minimum interval counted
            # when it was asked for; only the pace of looking at it applies
            if cursor.export_poll_after and cursor.export_poll_after > now:
                message = self.env._(
                    "KSeF is preparing the package of invoices for %(company)s (export "
                    "%(reference)s). The import takes it at %(when)s UTC automatically; nothing "
                    "to do.", company=company.display_name, reference=cursor.export_reference,
                    when=cursor.export_poll_after)
                return {"state": "waiting", "message": message, "run": cursor.last_run_id}
            run = cursor.last_run_id
            if not run or run.state != "waiting":
                run = self.env["l10n_pl_ksef.import.run"].sudo().create({
                    "company_id": company.id, "cursor_id": cursor.id, "trigger": trigger,
                    "subject_type": cursor.subject_type, "user_id": (run_user or self.env.user).id,
                    "checkpoint_from": cursor.checkpoint_date,
                })
            run.write({"state": "running"})
            cursor.write({"last_run_id": run.id})
        else:
            if cursor.next_run_after and cursor.next_run_after > now:
                message = self.env._("KSeF allows the next download for %(company)s at %(when)s UTC "
                            "(minimum interval between imports, or KSeF asked to wait). "
                            "Try again then; the scheduled import will do it automatically.",
                            company=company.display_name, when=cursor.next_run_after)
                return {"state": "skipped", "message": message, "run": None}

            run = self.env["l10n_pl_ksef.import.run"].sudo().create({
                "company_id": company.id, "cursor_id": cursor.id, "trigger": trigger,
                "subject_type": cursor.subject_type, "user_id": (run_user or self.env.user).id,
                "checkpoint_from": cursor.checkpoint_date,
            })
            cursor.write({"last_run_at": now, "last_run_id": run.id,
                          "next_run_after": now + cursor._l10n_pl_ksef_min_interval()})
        cursor._l10n_pl_ksef_commit()  # the interval counts even if the run fails below

        responsible = cursor._l10n_pl_ksef_responsible(run_user)
        result = cursor._l10n_pl_ksef_run_increments(run, client, responsible)
        run.write({"finished_at": fields.Datetime.now() if result["state"] != "waiting" else False,
                   "state": result["state"], "message": result["message"],
                   "checkpoint_to": cursor.checkpoint_date})
        if result["state"] == "failed":
            cursor.write({"last_error": result["message"], "last_error_at": fields.Datetime.now()})
        elif result["state"] in ("done", "partial") and cursor.last_error:
            cursor.write({"last_error": False, "last_error_at": False})
        cursor._l10n_pl_ksef_commit()
        result["run"] = run
        return result

    def _l10n_pl_ksef_responsible(self, user):
        if self.responsible_user_id:
            return self.responsible_user_id
        if user and not user._is_superuser() and user._is_internal():
            return user
        group = self.env.ref("account.group_account_manager", raise_if_not_found=False)
        users = group.sudo().user_ids.filtered(
            lambda u: self.company_id in u.company_ids and not u._is_superuser()
            and u._is_internal()) if group else self.env["res.users"]
        return users[:1]

    @contextlib.contextmanager
    def _l10n_pl_ksef_client_for_run(self, client):
        """``client`` when given (benchmarks, tests), else the company's own client through the
        config's context manager (refreshed tokens saved, HTTP session closed)."""
        if client is not None:
            yield client
            return
        with self.company_id.sudo()._l10n_pl_ksef_get_config()._l10n_pl_ksef_client() as own:
            yield own

    def _l10n_pl_ksef_fetch_increment(self, client, checkpoint, seen=None):
        """One increment from ``checkpoint``, or None while KSeF prepares its package.

        Stepwise and without waiting (ksef.sync.begin_export_increment, then
        poll_export_increment once): the pending export is kept on the cursor, so the next run
        continues it. ``seen``: KSeF numbers received at the checkpoint boundary by the previous
        increment, left out by the core (the look-up by KSeF number and the unique index stay
        as the second line of defence)."""
        pending = self._l10n_pl_ksef_pending_export(checkpoint)
        if pending is None:
            pending = ksef_sync.begin_export_increment(client, self.subject_type, checkpoint)
            self._l10n_pl_ksef_keep_export(pending)
            self._l10n_pl_ksef_commit()     # a later run continues this export, not a new one
        try:
            increment = ksef_sync.poll_export_increment(client, pending, seen=seen)
        except ksef_errors.KSeFRateLimited:
            raise                            # the export stays pending; looked at after the wait
        except ksef_errors.KSeFError:
            self._l10n_pl_ksef_drop_export()  # refused or damaged: the next run asks again
            raise
        if increment is None:
            when = fields.Datetime.now() + timedelta(seconds=self._l10n_pl_ksef_poll_delay(pending))
            self.write({"export_poll_after": when})
            self._l10n_pl_ksef_trigger_cron(when)
        return increment

    @staticmethod
    def _l10n_pl_ksef_poll_delay(pending):
        age = pending.age()
        for limit, delay in EXPORT_POLL_STEPS:
            if age < limit:
                return delay
        return EXPORT_POLL_MAX

    def _l10n_pl_ksef_pending_export(self, checkpoint):
        """The export this cursor is waiting for, when it still fits ``checkpoint``, else None
        (a stale, unreadable or foreign one is dropped)."""
        self.ensure_one()
        if not self.export_reference:
            return None
        try:
            pending = ksef_sync.PendingExport.from_dict(json.loads(
                vault.decrypt(self.sudo().export_state).decode()))
        except (ValueError, vault.VaultError, ksef_errors.KSeFError):
            _logger.warning("KSeF import cursor %s: unreadable pending export dropped", self.id)
            pending = None
        if pending is not None and (
                pending.reference_number != self.export_reference
                or pending.subject_type != self.subject_type
                or pending.start != min(checkpoint, ksef_sync.utcnow())
                or pending.age() > EXPORT_MAX_AGE.total_seconds()):
            _logger.info("KSeF import cursor %s: export %s no longer fits (checkpoint %s); a new "
                         "one is asked for", self.id, self.export_reference,
                         _to_iso(checkpoint))
            pending = None
        if pending is None:
            self._l10n_pl_ksef_drop_export()
        return pending

    def _l10n_pl_ksef_keep_export(self, pending):
        self.sudo().write({
            "export_reference": pending.reference_number,
            "export_started_at": _naive_utc(pending.started_at),
            "export_poll_after": False,
            "export_state": vault.encrypt(json.dumps(pending.to_dict())),
        })

    def _l10n_pl_ksef_drop_export(self):
        self.sudo().write({"export_reference": False, "export_started_at": False,
                           "export_poll_after": False, "export_state": False})

    def _l10n_pl_ksef_boundary(self):
        try:
            numbers = json.loads(self.boundary_numbers or "[]")
        except ValueError:
            return frozenset()
        return frozenset(n for n in numbers if isinstance(n, str)) if isinstance(
            numbers, list) else frozenset()

    def _l10n_pl_ksef_chunk_size(self):
        value = self.env["ir.config_parameter"].sudo().get_param(PARAM_CHUNK)
        try:
            return max(1, int(value)) if value else DEFAULT_CHUNK
        except ValueError:
            return DEFAULT_CHUNK

    def _l10n_pl_ksef_store_increment(self, increment, Move, run, responsible, totals):
        """Store one increment's documents, committing every ``chunk`` bills, then move the
        checkpoint in the same transaction as the last chunk. Returns False when another run
        took the cursor over between two chunks (the checkpoint is then left where it was).

        Committing in chunks keeps a 10,000-invoice package from being one transaction that
        a worker time limit would kill every time: bills already committed are recognised by
        KSeF number when the same increment is fetched again, so nothing is duplicated."""
        company = self.company_id
        docs = increment.invoices
        size = self._l10n_pl_ksef_chunk_size()
        # fetching may have committed (an export being prepared is kept): the row lock went with
        # that commit, so take it again before anything is stored or the checkpoint moves
        if not self._l10n_pl_ksef_relock():
            return False
        for start in range(0, max(len(docs), 1), size):
            last = start + size >= len(docs)
            with self.env.cr.savepoint():
                stats = Move._l10n_pl_ksef_import_documents(
                    company, docs[start:start + size], run=run, responsible=responsible)
                if last:
                    self.write({
                        "checkpoint": _to_iso(increment.new_checkpoint),
                        "boundary_numbers": json.dumps(sorted(
                            getattr(increment, "boundary_numbers", None) or ())) or False,
                    })
                    self._l10n_pl_ksef_drop_export()   # with the checkpoint, never before
                    totals["increment_count"] += 1
                for key, value in stats.items():
                    totals[key] = totals.get(key, 0) + value
                run.write(totals)
            self._l10n_pl_ksef_commit()
            if not last:
                self.env.invalidate_all()   # keep the memory flat over large packages
                if not self._l10n_pl_ksef_relock():
                    return False
        return True

    def _l10n_pl_ksef_fetch_and_store(self, client, Move, run, responsible, totals):
        """Increments from the checkpoint until complete or the budget is used.
        Returns (state, message); message "" = the counts say it."""
        for _number in range(self._l10n_pl_ksef_max_increments()):
            # every commit releases the row lock: take it again before each increment
            if not self._l10n_pl_ksef_relock():
                return "skipped", self.env._("Another import took over; stopped here.")
            checkpoint = _from_iso(self.checkpoint) or (
                self.start_date or fields.Datetime.now() - timedelta(days=30)
            ).replace(tzinfo=timezone.utc)
            increment = self._l10n_pl_ksef_fetch_increment(
                client, checkpoint, seen=self._l10n_pl_ksef_boundary())
            if increment is None:
                return "waiting", self.env._(
                    "KSeF is preparing the package of invoices (export %(reference)s). The import "
                    "takes it at %(when)s UTC automatically; nothing to do.",
                    reference=self.export_reference, when=self.export_poll_after)
            if not self._l10n_pl_ksef_store_increment(increment, Move, run, responsible, totals):
                return "skipped", self.env._("Another import took over; stopped here.")
            if increment.is_complete:
                return "done", ""
        soon = fields.Datetime.now() + self._l10n_pl_ksef_min_interval()
        self._l10n_pl_ksef_trigger_cron(soon)
        return "partial", self.env._("More invoices are waiting in KSeF; the import continues at "
                                     "%(when)s UTC.", when=soon)

    def _l10n_pl_ksef_run_increments(self, run, client, responsible):
        company = self.company_id
        Move = self.env["account.move"].sudo().with_company(company)
        totals = {"increment_count": 0, "document_count": 0, "created_count": 0,
                  "duplicate_count": 0, "error_count": 0}
        state = "done"
        message = ""
        try:
            with self._l10n_pl_ksef_client_for_run(client) as active:
                state, message = self._l10n_pl_ksef_fetch_and_store(active, Move, run, responsible,
                                                                    totals)
        except ksef_errors.KSeFAuthPending as exc:
            # KSeF is still checking the login; nothing was downloaded: a few seconds, not the
            # minimum interval between downloads
            when = fields.Datetime.now() + timedelta(seconds=5)
            self.write({"next_run_after": when})
            self._l10n_pl_ksef_trigger_cron(when)
            state = "waiting"
            message = ksef_i18n.error_message(self.env, exc)
        except ksef_errors.KSeFRateLimited as exc:
            wait = int(exc.retry_after or 60)
            when = fields.Datetime.now() + timedelta(seconds=wait)
            self.write({"next_run_after": max(when, self.next_run_after or when)})
            if self.export_reference:      # the export KSeF prepares is looked at after the wait
                self.write({"export_poll_after": self.next_run_after})
            self._l10n_pl_ksef_trigger_cron(self.next_run_after)
            state = "rate_limited"
            message = self.env._("KSeF asked to slow down (HTTP 429); the import continues "
                        "automatically at %(when)s UTC. Nothing was lost.",
                        when=self.next_run_after)
        except (ksef_errors.KSeFError, UserError) as exc:
            state = "failed"
            text = ksef_i18n.error_message(self.env, exc)
            message = self.env._("The import from KSeF stopped: %(error)s The invoices imported so far "
                        "are kept; the next run continues from the same point.", error=text)
            _logger.warning("KSeF import for company %s failed: %s", company.id, text)
        except psycopg2.extensions.TransactionRollbackError:
            raise       # another run changed the same rows first: the caller rolls back, skips
        except Exception as exc:  # noqa: BLE001 - logged with traceback, shown on the run
            state = "failed"
            self.env.invalidate_all()  # the failed increment was rolled back to its savepoint
            _logger.exception("KSeF import for company %s failed unexpectedly", company.id)
            message = self.env._("The import from KSeF stopped on an unexpected error (%(error)s). "
                        "Nothing after the last stored invoice was skipped; the next run "
                        "continues from the same point. If it repeats, send the server log "
                        "to your administrator.", error=repr(exc)[:300])
        if state == "waiting" and not totals["created_count"] and not totals["error_count"]:
            return {"state": state, "message": message, "counts": totals}
        if not message:
            message = self.env._("%(created)s new bill(s), %(dup)s already imported, "
                        "%(err)s refused document(s).", created=totals["created_count"],
                        dup=totals["duplicate_count"], err=totals["error_count"])
        elif state not in ("done", "partial", "waiting"):
            message += " " + self.env._("So far: %(created)s new bill(s), %(err)s refused.",
                               created=totals["created_count"], err=totals["error_count"])
        return {"state": state, "message": message, "counts": totals}

    # ------------------------------------------------------------------
    # retry of one refused document
    # ------------------------------------------------------------------
    def _l10n_pl_ksef_retry_document(self, error, client=None):
        """Download ``error``'s document again by KSeF number and import it."""
        self.ensure_one()
        from ..ksef.sync import IncomingInvoice

        company = self.company_id
        metadata = json.loads(error.metadata_json or "{}")
        try:
            with self._l10n_pl_ksef_client_for_run(client) as active:
                xml = active.download_invoice(error.ksef_number)
            document = IncomingInvoice(ksef_number=error.ksef_number, metadata=metadata, xml=xml,
                                       error=None)
        except ksef_errors.KSeFRateLimited as exc:
            raise UserError(self.env._("KSeF asked to wait %(seconds)s seconds; try again then.",
                              seconds=exc.retry_after or 60)) from exc
        except ksef_errors.KSeFError as exc:
            document = IncomingInvoice(ksef_number=error.ksef_number, metadata=metadata, xml=None,
                                       error=ksef_i18n.error_message(self.env, exc))
        self.env["account.move"].sudo().with_company(company)._l10n_pl_ksef_import_documents(
            company, [document], run=error.run_id,
            responsible=self._l10n_pl_ksef_responsible(self.env.user))
        return True
