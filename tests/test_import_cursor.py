"""The import cursor at exact Odoo steps, against the real emulator: a crash while storing,
another run taking over between chunks, chunked commits, the minimum interval, the manual
button, the cron entry point and a damaged boundary list.

Failures are injected by patching Odoo-side methods only; KSeF is the in-process emulator
(see test_import_emulator.py for paging, truncation, late invoices, faults and 429s)."""
from datetime import timedelta
from unittest.mock import patch

from odoo.service.model import call_kw
from odoo.tests import tagged
from odoo.tools import mute_logger

from .test_import_emulator import ImportEmulatorCase

CURSOR_MODULE = "odoo.addons.l10n_pl_ksef.models.l10n_pl_ksef_import_cursor"


@tagged("post_install", "-at_install")
class TestKsefImportCursor(ImportEmulatorCase):

    def test_crash_while_storing_keeps_cursor(self):
        self.seed(20, lines=1, seed=701)
        Move = type(self.env["account.move"])
        with patch.object(Move, "_l10n_pl_ksef_import_notify",
                          side_effect=RuntimeError("worker killed")), \
                mute_logger(CURSOR_MODULE):
            result = self.run_import()
        self.assertEqual(result["state"], "failed")
        self.assertIn("worker killed", result["message"])
        self.assertFalse(self.bills(), "the increment's bills must be rolled back")
        self.assertEqual(self.cursor.checkpoint, self.since.isoformat(), "the cursor must not move")
        self.assertEqual(self.run_import()["state"], "done")
        self.assert_in_sync()

    def test_chunks_committed_cursor_moves_with_the_last(self):
        self.env["ir.config_parameter"].sudo().set_param("l10n_pl_ksef.import_commit_every", "8")
        self.seed(30, lines=1, seed=711)
        Move = type(self.env["account.move"])
        real_notify = Move._l10n_pl_ksef_import_notify
        calls = []

        def crash_on_third_chunk(move, moves, responsible):
            calls.append(len(moves))
            if len(calls) == 3:
                raise RuntimeError("worker killed")
            return real_notify(move, moves, responsible)

        with patch.object(Move, "_l10n_pl_ksef_import_notify", crash_on_third_chunk), \
                mute_logger(CURSOR_MODULE):
            result = self.run_import()
        self.assertEqual(result["state"], "failed")
        self.assertEqual(len(self.bills()), 16, "two chunks of 8 committed")
        self.assertEqual(self.cursor.checkpoint, self.since.isoformat(),
                         "the checkpoint moves only with the last chunk")
        result = self.run_import()
        self.assertEqual(result["state"], "done", result["message"])
        self.assertEqual((result["run"].created_count, result["run"].duplicate_count), (14, 16))
        self.assertGreater(self.cursor.checkpoint, self.since.isoformat())
        self.assert_in_sync()

    def test_another_run_takes_over_between_chunks(self):
        self.env["ir.config_parameter"].sudo().set_param("l10n_pl_ksef.import_commit_every", "10")
        self.seed(25, lines=1, seed=721)
        Cursor = type(self.cursor)
        real_lock = Cursor._l10n_pl_ksef_try_lock
        calls = []

        def lock(cursor):
            calls.append(1)
            # 1: start of the run, 2: before the increment, 3: before storing it (fetching may
            # have committed), 4: after the first chunk
            return False if len(calls) == 4 else real_lock(cursor)

        with patch.object(Cursor, "_l10n_pl_ksef_try_lock", lock):
            result = self.run_import()
        self.assertEqual(result["state"], "skipped", result["message"])
        self.assertIn("took over", result["message"])
        self.assertEqual(len(self.bills()), 10)
        self.assertEqual(self.cursor.checkpoint, self.since.isoformat())
        self.assertEqual(self.run_import()["state"], "done")
        self.assert_in_sync()

    def test_locked_cursor_skips_without_calling_ksef(self):
        self.seed(2, lines=1, seed=731)
        self.emulator.reset_counters()
        with patch.object(type(self.cursor), "_l10n_pl_ksef_try_lock", lambda cursor: False):
            result = self.run_import()
        self.assertEqual((result["state"], result["run"]), ("skipped", None))
        self.assertIn("Another KSeF import", result["message"])
        self.assertFalse(self.api_requests())

    def test_minimum_interval_per_company(self):
        self.seed(3, lines=1, seed=741)
        self.env["ir.config_parameter"].sudo().set_param(
            "l10n_pl_ksef.import_min_interval_minutes", "1")   # below the floor: 15 used
        self.assertEqual(self.run_import()["state"], "done")
        self.assertGreaterEqual(self.cursor.next_run_after - self.cursor.last_run_at,
                                timedelta(minutes=15))
        self.emulator.reset_counters()
        result = self.cursor._l10n_pl_ksef_run()   # straight after
        self.assertEqual(result["state"], "skipped")
        self.assertIn("allows the next download", result["message"])
        self.assertFalse(self.api_requests())

    def test_manual_button_reports_result(self):
        self.seed(2, lines=1, seed=751)
        self.cursor.next_run_after = False
        # exactly as the web client calls a list header button: with the selected ids
        action = call_kw(self.env["account.move"].with_user(self.accountant).with_company(
            self.company), "action_l10n_pl_ksef_import_now", [[]], {})
        self.assertEqual(action["tag"], "display_notification")
        self.assertEqual(action["params"]["type"], "success", action["params"]["message"])
        self.assertIn("2 new bill(s)", action["params"]["message"])   # how many arrived
        self.assertEqual(len(self.bills()), 2)
        self.assertEqual(self.cursor.last_run_id.trigger, "manual")
        self.assertEqual(self.cursor.last_run_id.user_id, self.accountant)
        activities = self.bills().activity_ids
        self.assertEqual(activities.user_id, self.accountant)
        self.assert_in_sync()

    def test_cron_imports_for_connected_companies(self):
        self.seed(4, lines=1, seed=761)
        self.cursor.next_run_after = False
        self.env["l10n_pl_ksef.import.cursor"]._cron_l10n_pl_ksef_import()
        self.assertEqual(self.cursor.last_run_id.trigger, "cron")
        self.assertEqual(self.cursor.last_run_id.state, "done", self.cursor.last_run_id.message)
        self.assert_in_sync()

    def test_damaged_boundary_list_is_ignored(self):
        self.seed(5, lines=1, seed=771)
        self.cursor.boundary_numbers = "{not json"
        result = self.run_import()
        self.assertEqual((result["state"], result["run"].created_count), ("done", 5))
        self.assert_in_sync()
