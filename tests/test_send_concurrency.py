"""Two send-cron runners at the same moment on one company's queue, each with its own database
connection: the company's queue lock holds across the runner's own commits, so nothing is sent
twice, nothing is logged as an error and no session stays open.

Two connections only see committed data: the queue is built on the database's main company in
a cursor of its own and committed, and every row it adds is deleted (and the settings it
changes are restored) at the end of the test, whatever happens.
"""
# two connections see only committed data: these commits are the point of the test
# pylint: disable=invalid-commit
import logging
import sys
import threading
import time
import traceback
from unittest.mock import patch

from odoo import SUPERUSER_ID, api
from odoo.exceptions import UserError
from odoo.orm.environments import Transaction
from odoo.tests import tagged
from odoo.tools import SQL

from ..models.l10n_pl_ksef_submission import QUEUE_LOCK_KEY
from .common import TEST_NIP
from .send_common import KsefSendCommon

INVOICES = 8
EMULATOR_SERVICE = "odoo.addons.l10n_pl_ksef.tools.emulator_service"


class _Errors(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefSendConcurrency(KsefSendCommon):

    def setUp(self):
        super().setUp()
        self.emulator.faults.clear()
        self.emulator.set_unavailable(False)
        self.connect_token()
        # the emulator's port is a system parameter of the test transaction, which the other
        # connections cannot see (and must not wait for)
        port = int(self.env["ir.config_parameter"].sudo().get_param("l10n_pl_ksef.emulator_port"))
        patcher = patch(EMULATOR_SERVICE + ".get_port", lambda env: port)
        patcher.start()
        self.addCleanup(patcher.stop)

    # --- committed data, cleaned up ------------------------------------------------------
    def committed_queue(self, xmls):
        """The main company connected to the emulator with ``xmls`` queued, committed."""
        registry = self.registry
        token = self.emulator.make_ksef_token(TEST_NIP)
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company = env.ref("base.main_company")
            config = company._l10n_pl_ksef_get_config()
            cr.execute("SELECT * FROM l10n_pl_ksef_config WHERE id = %s", [config.id])
            columns = [d[0] for d in cr.description]
            saved = dict(zip(columns, cr.fetchone()))
            cr.execute("SELECT COALESCE(MAX(id), 0) FROM mail_message")
            max_message = cr.fetchone()[0]
            cr.execute("SELECT COALESCE(MAX(id), 0) FROM ir_cron_trigger")
            max_trigger = cr.fetchone()[0]
            journal = env["account.journal"].search(
                [("company_id", "=", company.id), ("type", "=", "sale")], limit=1)
            own_journal = not journal
            state = {"company_id": company.id, "config_id": config.id, "saved": saved,
                     "max_message": max_message, "max_trigger": max_trigger,
                     "journal_id": False, "move_ids": []}
            self.addCleanup(self.clean_committed, state)
            if own_journal:
                journal = env["account.journal"].create({
                    "name": "KSeF concurrency test", "code": "KSCT", "type": "sale",
                    "company_id": company.id})
                state["journal_id"] = journal.id
            cr.commit()
            with config._l10n_pl_ksef_client("emulator", login=False) as client:
                client.authenticate_with_token(TEST_NIP, token)
                config._l10n_pl_ksef_store_connection("emulator", "token", TEST_NIP, client,
                                                      token=token)
            config.batch_threshold = 100     # online sessions: a commit after every invoice
            moves = env["account.move"].with_company(company).create([
                {"move_type": "out_invoice", "journal_id": journal.id} for _xml in xmls])
            state["move_ids"] = moves.ids
            cr.commit()
            for move, xml in zip(moves, xmls):
                move._l10n_pl_ksef_queue(xml, "online")
            cr.commit()
        return state

    def clean_committed(self, state):
        with self.registry.cursor() as cr:
            ids = tuple(state["move_ids"]) or (0,)
            cr.execute("SELECT id FROM l10n_pl_ksef_submission WHERE company_id = %s",
                       [state["company_id"]])
            subs = tuple(r[0] for r in cr.fetchall()) or (0,)
            cr.execute("UPDATE account_move SET l10n_pl_ksef_submission_id = NULL, "
                       "l10n_pl_ksef_xml_id = NULL, l10n_pl_ksef_upo_id = NULL WHERE id IN %s", [ids])
            cr.execute("DELETE FROM ir_attachment WHERE (res_model = 'account.move' AND res_id IN %s)"
                       " OR (res_model = 'l10n_pl_ksef.submission' AND res_id IN %s)", [ids, subs])
            cr.execute("DELETE FROM mail_message WHERE id > %s", [state["max_message"]])
            cr.execute("DELETE FROM account_move WHERE id IN %s", [ids])
            cr.execute("DELETE FROM l10n_pl_ksef_submission WHERE id IN %s", [subs])
            cr.execute("DELETE FROM ir_cron_trigger WHERE id > %s", [state["max_trigger"]])
            if state["journal_id"]:
                cr.execute("DELETE FROM account_journal WHERE id = %s", [state["journal_id"]])
            saved = dict(state["saved"])
            saved.pop("id")
            cr.execute(SQL("UPDATE l10n_pl_ksef_config SET %s WHERE id = %s", SQL(", ").join(
                SQL("%s = %s", SQL.identifier(column), value) for column, value in saved.items()),
                state["config_id"]))
            cr.commit()
        self.env.invalidate_all()
        self.registry.clear_cache()

    # --- the test ----------------------------------------------------------------------
    def test_two_cron_runners_at_once(self):
        xmls = []
        for _number in range(INVOICES):
            xml, problems = self.make_invoice()._l10n_pl_ksef_validate()
            self.assertFalse(problems)
            xmls.append(xml)
        state = self.committed_queue(xmls)
        Submission = type(self.env["l10n_pl_ksef.submission"])
        barrier = threading.Barrier(2, timeout=60)
        failures = []
        errors = _Errors()

        session_opened = threading.Event()
        original_commit = Submission._commit
        commits = []

        def commit(submission):
            original_commit(submission)
            commits.append(1)
            if len(commits) >= 2:
                # the first runner's session record is committed (its row locks ended there)
                session_opened.set()
            time.sleep(0.05)    # a KSeF round trip before the next state: the other runner's window

        def runner(index):
            try:
                with self.registry.cursor() as cr:
                    # the loading thread holds the registry's class lock while tests run:
                    # give the cursor its transaction on the registry directly
                    cr.transaction = Transaction(self.registry)
                    env = api.Environment(cr, SUPERUSER_ID, {})
                    barrier.wait()
                    if index:
                        # the worst moment: the first runner is between two of its commits
                        session_opened.wait(10)
                    env["l10n_pl_ksef.submission"]._cron_process()
                    cr.commit()
            except Exception as exc:  # noqa: BLE001 - reported by the test, never hangs the other
                barrier.abort()
                failures.append(repr(exc))

        root = logging.getLogger()
        root.addHandler(errors)
        try:
            # the runners commit like in production (the engine never commits inside tests)
            with patch.object(Submission, "_can_commit", lambda self: True), \
                    patch.object(Submission, "_commit", commit):
                threads = [threading.Thread(target=runner, args=(i,)) for i in range(2)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(60)
        finally:
            root.removeHandler(errors)
        stuck = [thread for thread in threads if thread.is_alive()]
        if stuck:
            frames = sys._current_frames()
            self.fail("runner stuck:\n%s" % "\n".join(
                "".join(traceback.format_stack(frames[t.ident])) for t in stuck))
        self.assertEqual(failures, [])
        self.assertEqual([e.getMessage() for e in errors.records], [], "no ERROR lines")

        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            moves = env["account.move"].browse(state["move_ids"])
            self.assertEqual(set(moves.mapped("l10n_pl_ksef_state")), {"accepted"},
                             moves.mapped("l10n_pl_ksef_message"))
            hashes = moves.mapped("l10n_pl_ksef_invoice_hash")
            subs = env["l10n_pl_ksef.submission"].search([("company_id", "=", state["company_id"])])
            self.assertTrue(subs)
            self.assertFalse(subs.filtered(lambda s: s.state == "open"), "no session left open")
        held = [inv.get("invoiceHash") for inv in self.emulator.state.invoices.values()
                if inv.get("invoiceHash") in hashes and inv["status"]["code"] == 200]
        self.assertEqual(sorted(held), sorted(hashes), "each invoice held by KSeF exactly once")

    def test_button_while_another_process_sends(self):
        """A button on invoices another process is sending says so (no silence)."""
        move = self.make_invoice()
        move._l10n_pl_ksef_enqueue()
        with self.registry.cursor() as other:
            other.execute("SELECT pg_advisory_lock(%s, %s)", [QUEUE_LOCK_KEY, self.company.id])
            try:
                with self.assertRaises(UserError) as caught:
                    move.action_l10n_pl_ksef_refresh()
                # the cron skips the company quietly meanwhile
                self.env["l10n_pl_ksef.submission"]._cron_process()
                self.assertEqual(move.l10n_pl_ksef_state, "queued")
            finally:
                other.execute("SELECT pg_advisory_unlock(%s, %s)", [QUEUE_LOCK_KEY, self.company.id])
        self.assertIn("another process", str(caught.exception))
        self.assertEqual(move.l10n_pl_ksef_state, "queued")
        move.action_l10n_pl_ksef_refresh()   # the lock is free: sent
        self.assertEqual(move.l10n_pl_ksef_state, "accepted")
