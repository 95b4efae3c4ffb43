"""Purchase import against the real in-process KSeF emulator (ksef.sync, HTTP, exports).

Every test starts its cursor at the emulator's high-water mark of the moment, so the
invoices of the test are exactly those stored in the emulator after it; the set of KSeF
numbers in Odoo (bills + visible error records) is compared with the emulator's store:
0 missed, 0 duplicated. The emulator's package caps are lowered so that paging and
truncation happen with a few hundred invoices.
"""
import json
import random
import time
from datetime import timedelta
from unittest.mock import patch

import psycopg2
from odoo import fields
from odoo.fields import Command
from odoo.tests import tagged
from odoo.tools import SQL, mute_logger

from ..ksef import nip as ksef_nip
from ..ksef import sync as ksef_sync
from ..ksef.records import utcnow
from ..tools import vault
from .common import TEST_NIP, KsefTestCommon

CURSOR_MODULE = "odoo.addons.l10n_pl_ksef.models.l10n_pl_ksef_import_cursor"
LOG_MODULE = "odoo.addons.l10n_pl_ksef.models.l10n_pl_ksef_import_log"
TRANSPORT_MODULE = "odoo.addons.l10n_pl_ksef.ksef.transport"
EXPORTS = "/invoices/exports"
EXPORT_STATUS = "/invoices/exports/{referenceNumber}"
HOSTILE = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
           b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><Faktura>&lol2;</Faktura>')
XXE = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
       b'<Faktura>&x;</Faktura>')


def other_nip(rng):
    while True:
        nip = ksef_nip.make_nip(str(rng.randint(100000000, 999999999)))
        if nip and nip != TEST_NIP:
            return nip


class ImportEmulatorCase(KsefTestCommon):
    """Connected company, emulator knobs restored after each test, cursor at the HWM."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["ir.config_parameter"].sudo().set_param(
            "l10n_pl_ksef.import_max_increments_per_run", "100")

    def setUp(self):
        super().setUp()
        emu = self.emulator
        knobs = {name: getattr(emu, name) for name in (
            "query_record_cap", "export_invoice_cap", "export_size_cap", "export_part_size")}

        def restore():
            emu.faults.clear()
            for name, value in knobs.items():
                setattr(emu, name, value)
        self.addCleanup(restore)
        self.connect_token()
        # everything stored so far belongs to earlier tests: start just after it. The seeding
        # spreads new invoices between the HWM and now, so leave at least a second between.
        with emu.lock:
            stored = [row.get("permanentStorageTs") or 0
                      for row in emu.state.table("invoices").values()]
        last = max(stored + [emu.hwm_fixed or 0, time.time() - 30]) + 0.001
        time.sleep(max(0.0, last + 1.0 - time.time()))
        self.since = emu.advance_hwm(last)
        self.cursor = self.env["l10n_pl_ksef.import.cursor"]._l10n_pl_ksef_get(self.company)
        self.cursor.write({"checkpoint": self.since.isoformat(), "boundary_numbers": False})

    # --- helpers ------------------------------------------------------------------
    def run_import(self):
        self.cursor.next_run_after = False   # tests do not wait 15 minutes
        return self.cursor._l10n_pl_ksef_run()

    def api_requests(self):
        return {k: v for k, v in self.emulator.counters.items() if " /storage/" not in k}

    def emulator_numbers(self):
        """KSeF numbers of invoices to our NIP stored after ``self.since`` and final (<= HWM)."""
        emu = self.emulator
        since, hwm = self.since.timestamp(), emu.hwm_fixed
        with emu.lock:
            rows = list(emu.state.table("invoices").values())
        return {row["ksefNumber"] for row in rows
                if (row.get("buyerIdentifier") or {}).get("value") == TEST_NIP
                and row.get("ksefNumber") and since < row["permanentStorageTs"] <= hwm}

    def bills(self):
        return self.env["account.move"].search([("company_id", "=", self.company.id),
                                                ("l10n_pl_ksef_imported", "=", True)])

    def errors(self):
        return self.env["l10n_pl_ksef.import.error"].search([("company_id", "=", self.company.id)])

    def assert_in_sync(self):
        """0 missed, 0 duplicated: bills + error records == what KSeF holds for us."""
        got = self.bills().mapped("l10n_pl_ksef_number")
        refused = self.errors().mapped("ksef_number")
        self.assertEqual(len(got), len(set(got)), "duplicated bills")
        self.assertFalse(set(got) & set(refused), "a document is both a bill and an error")
        expected = self.emulator_numbers()
        self.assertEqual(len(set(got) | set(refused)), len(expected))
        self.assertEqual(set(got) | set(refused), expected, "missed or foreign documents")
        self.assertEqual(set(self.bills().mapped("state")), {"draft"})

    def seed(self, count, **kwargs):
        """``count`` invoices to our company, final at once (HWM advanced)."""
        numbers = self.emulator.seed_incoming_invoices(TEST_NIP, count, **kwargs)
        self.emulator.advance_hwm()
        return numbers


@tagged("post_install", "-at_install")
class TestKsefImportEmulator(ImportEmulatorCase):

    def test_500_invoices_paging_truncation_and_late_offline(self):
        emu = self.emulator
        emu.export_invoice_cap = 120          # 500 -> 4 truncated packages + 1
        emu.export_part_size = 40000          # several encrypted parts per package
        numbers = emu.seed_incoming_invoices(TEST_NIP, 500, lines=2, seed=601)
        emu.advance_hwm()
        emu.reset_counters()
        result = self.run_import()
        self.assertEqual(result["state"], "done", result["message"])
        run = result["run"]
        self.assertEqual((run.created_count, run.error_count), (500, 0))
        self.assertEqual(run.increment_count, 5)
        # the last invoice of a truncated package comes again at the start of the next
        # window: the core leaves it out (boundary numbers stored on the cursor)
        self.assertEqual(run.duplicate_count, 0)
        self.assert_in_sync()
        self.assertEqual(set(self.bills().mapped("l10n_pl_ksef_number")), set(numbers))
        requests = self.api_requests()
        self.assertEqual(requests["POST " + EXPORTS], 5, requests)
        self.assertLessEqual(sum(requests.values()), 20, requests)   # 500 invoices
        self.assertGreater(emu.counters["GET /storage/export/{referenceNumber}/{ordinalNumber}"], 5)
        kinds = self.bills().mapped("move_type")
        self.assertIn("in_refund", kinds, "seeded KOR corrections lowering the amount")
        self.assertTrue(self.bills().filtered("l10n_pl_ksef_corrected_move_id"))
        self.assertTrue(self.bills().filtered("l10n_pl_ksef_paid"))
        self.assertTrue(self.cursor.boundary_numbers)

        # a late offline invoice: issued weeks ago, reaches KSeF only now; not final yet
        late = emu.seed_incoming_invoices(TEST_NIP, 1, offline_late=1, seed=602)
        result = self.run_import()
        self.assertEqual((result["state"], result["run"].created_count), ("done", 0))
        emu.advance_hwm()
        result = self.run_import()
        self.assertEqual(result["run"].created_count, 1, result["message"])
        bill = self.bills().filtered(lambda m: m.l10n_pl_ksef_number == late[0])
        self.assertLess(bill.invoice_date, fields.Date.today() - timedelta(days=13))
        self.assert_in_sync()

        # once more: nothing new, nothing duplicated
        result = self.run_import()
        self.assertEqual((result["run"].document_count, result["run"].created_count), (0, 0))
        # even from the very start again (lost cursor): all known, none created, no error
        self.cursor.write({"checkpoint": self.since.isoformat(), "boundary_numbers": False})
        result = self.run_import()
        self.assertEqual(result["state"], "done", result["message"])
        self.assertEqual((result["run"].created_count, result["run"].duplicate_count,
                          result["run"].error_count), (0, 501, 0))
        self.assert_in_sync()

    def planner_rows(self, table):
        self.env.cr.execute(SQL("EXPLAIN (FORMAT JSON) SELECT 1 FROM %s", SQL.identifier(table)))
        plan = self.env.cr.fetchone()[0]
        return plan[0]["Plan"]["Plan Rows"]

    def test_import_with_statistics_that_say_empty(self):
        """The state of the CI run that hung: account_move(_line) have pages but their
        statistics say 0 rows, so Odoo's queries over new invoices (payment state, reconciled
        payments) were planned as nested loops over every line of the transaction. The
        import refreshes the statistics as it adds rows: the planner's estimate follows."""
        self.env.flush_all()
        try:
            with self.env.cr.savepoint():
                self.env.cr.execute(
                    "UPDATE pg_class SET relpages = GREATEST(relpages, 40), reltuples = 0 "
                    "WHERE oid IN ('account_move'::regclass, 'account_move_line'::regclass)")
        except psycopg2.Error:
            self.skipTest("the test database user may not change pg_class")
        self.assertLessEqual(self.planner_rows("account_move_line"), 1)
        Move = type(self.env["account.move"])
        refreshed = []
        real = Move._l10n_pl_ksef_refresh_statistics

        def spy(move):
            refreshed.append(real(move))
            return refreshed[-1]

        self.seed(260, lines=2, seed=641)
        with patch.object(Move, "_l10n_pl_ksef_refresh_statistics", spy):
            started = time.monotonic()
            result = self.run_import()
            took = time.monotonic() - started
        self.assertEqual((result["state"], result["run"].created_count), ("done", 260),
                         result["message"])
        self.assertTrue(any(refreshed), "the stale statistics were never refreshed")
        self.env.cr.execute("SELECT count(*) FROM account_move_line")
        lines = self.env.cr.fetchone()[0]
        # refreshed before each batch of 50 bills, when reality passed twice the estimate
        self.assertGreater(self.planner_rows("account_move_line"), lines / 4)
        self.assert_in_sync()
        # hours before the fix, seconds after; a generous bound that still catches a plan
        # whose cost grows with lines x lines x moves
        self.assertLess(took, 120)
        # sound statistics: nothing more to analyse
        self.env["account.move"]._l10n_pl_ksef_refresh_statistics()
        self.assertFalse(self.env["account.move"]._l10n_pl_ksef_refresh_statistics())

    def test_faults_mid_import_lose_and_repeat_nothing(self):
        emu = self.emulator
        emu.export_invoice_cap = 40
        emu.seed_incoming_invoices(TEST_NIP, 100, lines=1, seed=611)
        emu.advance_hwm()
        Cursor = type(self.cursor)
        real_fetch = Cursor._l10n_pl_ksef_fetch_increment
        calls = []

        def fetch_then_break_ksef(cursor, client, checkpoint, seen=None):
            calls.append(checkpoint)
            if len(calls) == 2:   # KSeF starts failing after the first increment is stored
                emu.faults.add("http500", path=EXPORTS, count=None)
            return real_fetch(cursor, client, checkpoint, seen=seen)

        with patch.object(Cursor, "_l10n_pl_ksef_fetch_increment", fetch_then_break_ksef), \
                patch.object(type(self.env["l10n_pl_ksef.config"]), "_l10n_pl_ksef_get_client",
                             self.fast_retry_client()), \
                mute_logger(CURSOR_MODULE, TRANSPORT_MODULE):
            result = self.run_import()
        self.assertEqual(result["state"], "failed")
        self.assertIn("500", result["message"])
        self.assertEqual(len(self.bills()), 40, "the first increment is kept")
        checkpoint = self.cursor.checkpoint
        self.assertGreater(checkpoint, self.since.isoformat())

        # KSeF recovers, but one request is lost after KSeF processed it, one fails once:
        # the client retries both (idempotent), the run completes from the same checkpoint
        emu.faults.clear()
        emu.faults.add("drop_after_accept", path=EXPORT_STATUS, count=1)
        emu.faults.add("http503", path=EXPORTS, count=1)
        with mute_logger(TRANSPORT_MODULE):
            result = self.run_import()
        self.assertEqual(result["state"], "done", result["message"])
        self.assertEqual(result["run"].checkpoint_from, fields.Datetime.to_datetime(
            checkpoint[:19].replace("T", " ")))
        self.assertEqual(result["run"].created_count, 60)
        self.assert_in_sync()

    def test_refreshed_tokens_are_kept(self):
        """The import gets its client from the config's context manager: an access token
        refreshed during the run is stored afterwards, and the HTTP session is closed."""
        self.emulator.seed_incoming_invoices(TEST_NIP, 2, lines=1, seed=977)
        Config = type(self.env["l10n_pl_ksef.config"])
        original = Config._l10n_pl_ksef_get_client
        seen = {}

        def get_client(config):
            client = original(config)
            seen["client"], seen["before"] = client, client.tokens.access_token
            self.emulator.expire_access_tokens()   # 401 on the next request: the client refreshes
            client.close = lambda: seen.setdefault("closed", True)
            return client

        with patch.object(Config, "_l10n_pl_ksef_get_client", get_client):
            result = self.run_import()
        self.assertEqual(result["state"], "done", result["message"])
        client = seen["client"]
        self.assertNotEqual(client.tokens.access_token, seen["before"])
        stored = json.loads(self.config._l10n_pl_ksef_secret("session_encrypted"))
        self.assertEqual(stored["tokens"]["access_token"], client.tokens.access_token)
        self.assertTrue(seen.get("closed"))

    def fast_retry_client(self):
        """The company's client, with retries that do not sleep (faster test)."""
        original = type(self.env["l10n_pl_ksef.config"])._l10n_pl_ksef_get_client

        def get_client(config):
            client = original(config)
            client.transport.sleep = lambda seconds: None
            return client
        return get_client

    def test_hostile_documents_become_visible_errors(self):
        emu = self.emulator
        emu.seed_incoming_invoices(TEST_NIP, 3, lines=1, seed=631)
        hostile = {
            emu.seed_raw_invoice(TEST_NIP, HOSTILE): "DOCTYPE",
            emu.seed_raw_invoice(TEST_NIP, XXE): "DOCTYPE",
            emu.seed_raw_invoice(TEST_NIP, b"<Faktura><Fa>unclosed"): "well-formed",
            emu.seed_raw_invoice(TEST_NIP, b"<Faktura>" + b" " * (6 * 1024 * 1024)
                                 + b"</Faktura>"): "larger",
        }
        emu.advance_hwm()
        with mute_logger(LOG_MODULE):
            result = self.run_import()
        self.assertEqual(result["state"], "done", result["message"])
        self.assertEqual((result["run"].created_count, result["run"].error_count), (3, 4))
        errors = self.errors()
        self.assertEqual(set(errors.mapped("ksef_number")), set(hostile))
        for error in errors:
            self.assertEqual(error.state, "open")
            self.assertEqual(error.run_id, result["run"])
            self.assertIn(hostile[error.ksef_number], error.message)
        self.assertNotIn("root:", "".join(errors.mapped("message")))
        self.assert_in_sync()
        # the next run does not see them again (cursor past them, boundary remembered)
        result = self.run_import()
        self.assertEqual((result["run"].document_count, result["run"].error_count), (0, 0))
        self.assertEqual(set(errors.mapped("attempt_count")), {1})

    def test_rate_limit_reschedules_without_sleeping(self):
        emu = self.emulator
        emu.seed_incoming_invoices(TEST_NIP, 3, lines=1, seed=641)
        emu.advance_hwm()
        cron = self.env.ref("l10n_pl_ksef.ir_cron_l10n_pl_ksef_import")
        triggers_before = self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)])
        emu.faults.add("http429", path=EXPORTS, count=None, retry_after=600)
        started = time.monotonic()
        result = self.run_import()
        self.assertLess(time.monotonic() - started, 5, "must not sleep for Retry-After")
        self.assertEqual(result["state"], "rate_limited", result["message"])
        self.assertGreaterEqual(self.cursor.next_run_after,
                                fields.Datetime.now() + timedelta(seconds=590))
        triggers = self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)])
        self.assertEqual(len(triggers), triggers_before + 1)
        self.assertGreaterEqual(max(triggers.mapped("call_at")),
                                self.cursor.next_run_after - timedelta(seconds=1))
        self.assertEqual(self.cursor.checkpoint, self.since.isoformat())
        # before Retry-After has passed, a run does not call KSeF
        emu.reset_counters()
        result = self.cursor._l10n_pl_ksef_run()
        self.assertEqual(result["state"], "skipped")
        self.assertFalse(self.api_requests())
        # a short Retry-After is not slept through either: the run is rescheduled
        emu.faults.clear()
        emu.faults.add("http429", path=EXPORTS, count=1, retry_after=2)
        started = time.monotonic()
        with mute_logger(TRANSPORT_MODULE):
            result = self.run_import()
        self.assertLess(time.monotonic() - started, 1.5, "a worker never sleeps for Retry-After")
        self.assertEqual(result["state"], "rate_limited", result["message"])
        self.assertEqual(self.cursor.checkpoint, self.since.isoformat())
        result = self.run_import()                      # the rescheduled run
        self.assertEqual(result["state"], "done", result["message"])
        self.assert_in_sync()

    def test_export_being_prepared_is_picked_up_by_a_later_run(self):
        """KSeF takes its time with the package: the run ends without waiting, keeps the export
        (its AES key encrypted), triggers the cron, and a later run takes it over: same run
        record, no second export, the minimum interval does not hold it back."""
        emu = self.emulator
        self.addCleanup(setattr, emu, "export_delay", emu.export_delay)
        numbers = self.seed(7, lines=1, seed=655)
        emu.export_delay = 3.0
        cron = self.env.ref("l10n_pl_ksef.ir_cron_l10n_pl_ksef_import")
        triggers_before = self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)])
        emu.reset_counters()
        slept = []
        original = type(self.env["l10n_pl_ksef.config"])._l10n_pl_ksef_get_client

        def get_client(config):
            client = original(config)
            client.sleep = slept.append
            return client
        with patch.object(type(self.env["l10n_pl_ksef.config"]), "_l10n_pl_ksef_get_client",
                          get_client):
            result = self.run_import()
        self.assertEqual(slept, [], "a worker must not sleep while KSeF prepares the export")
        self.assertEqual(result["state"], "waiting", result["message"])
        self.assertIn("KSeF is preparing", result["message"])
        run = result["run"]
        self.assertEqual(run.state, "waiting")
        self.assertFalse(run.finished_at)
        cursor = self.cursor
        self.assertTrue(cursor.export_reference)
        self.assertIn(cursor.export_reference, result["message"])
        stored = cursor.sudo().export_state
        self.assertTrue(stored.startswith("ksef1:"))
        self.assertNotIn("reference_number", stored, "the pending export is stored encrypted")
        self.assertEqual(cursor.checkpoint, self.since.isoformat())
        self.assertFalse(self.bills())
        triggers = self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)])
        self.assertEqual(len(triggers), triggers_before + 1)
        self.assertLessEqual(max(triggers.mapped("call_at")),
                             fields.Datetime.now() + timedelta(seconds=6))
        self.assertEqual(self.api_requests().get("POST /invoices/exports"), 1)

        # before the next look is due, a run (cron, button) calls nothing
        emu.reset_counters()
        again = self.cursor._l10n_pl_ksef_run()
        self.assertEqual(again["state"], "waiting")
        self.assertFalse(self.api_requests())

        # the next look, KSeF still busy: no second export, the pace slows down
        cursor.export_poll_after = fields.Datetime.now() - timedelta(seconds=1)
        cursor.next_run_after = fields.Datetime.now() + timedelta(minutes=15)   # interval
        again = self.cursor._l10n_pl_ksef_run()
        self.assertEqual(again["state"], "waiting", again["message"])
        self.assertEqual(again["run"], run)
        self.assertNotIn("POST /invoices/exports", self.api_requests())
        self.assertEqual(self.api_requests().get("GET /invoices/exports/{referenceNumber}"), 1)

        # ready: the later run stores the bills, clears the export, closes the same run record
        time.sleep(3.2)                              # the test waits for the emulator, not Odoo
        cursor.export_poll_after = fields.Datetime.now() - timedelta(seconds=1)
        done = self.cursor._l10n_pl_ksef_run()
        self.assertEqual(done["state"], "done", done["message"])
        self.assertEqual(done["run"], run)
        self.assertEqual((run.state, run.created_count), ("done", 7))
        self.assertTrue(run.finished_at)
        self.assertFalse(cursor.export_reference)
        self.assertFalse(cursor.sudo().export_state)
        self.assertEqual(set(self.bills().mapped("l10n_pl_ksef_number")), set(numbers))
        self.assertNotIn("POST /invoices/exports", self.api_requests())
        self.assert_in_sync()

    def test_stale_or_damaged_pending_export_is_asked_for_again(self):
        emu = self.emulator
        numbers = self.seed(3, lines=1, seed=656)
        cursor = self.cursor
        cursor.sudo().write({"export_reference": "20260101-EX-0000000000-0000000000-00",
                             "export_state": "not a vault value"})
        with mute_logger(CURSOR_MODULE):
            result = self.run_import()
        self.assertEqual(result["state"], "done", result["message"])
        self.assertEqual(set(self.bills().mapped("l10n_pl_ksef_number")), set(numbers))
        self.assertFalse(cursor.export_reference)
        # an export KSeF refuses (unknown reference) is dropped and asked for anew next time
        checkpoint = ksef_sync.parse_datetime(cursor.checkpoint)
        fake = ksef_sync.PendingExport(reference_number="20260101-EX-0000000000-0000000000-00",
                                       subject_type="Subject2", start=checkpoint,
                                       key=b"k" * 32, iv=b"i" * 16, started_at=utcnow())
        cursor.sudo().write({"export_reference": fake.reference_number,
                             "export_state": vault.encrypt(json.dumps(fake.to_dict()))})
        with mute_logger(CURSOR_MODULE, TRANSPORT_MODULE):
            result = self.run_import()
        self.assertEqual(result["state"], "failed", result["message"])
        self.assertFalse(cursor.export_reference)
        emu.reset_counters()
        result = self.run_import()
        self.assertEqual(result["state"], "done", result["message"])
        self.assertEqual(self.api_requests().get("POST /invoices/exports"), 1)
        self.assert_in_sync()

    def test_mapping_learnt_on_second_bill_via_emulator(self):
        emu = self.emulator
        seller = other_nip(random.Random(651))
        # same seed and seller: the same lines on both invoices
        emu.seed_incoming_invoices(TEST_NIP, 1, sellers=[seller], lines=2, seed=652)
        emu.advance_hwm()
        self.assertEqual(self.run_import()["run"].created_count, 1)
        first = self.bills()
        self.assertEqual(first.partner_id.vat, "PL" + seller)
        line = first.invoice_line_ids[0]
        product = self.env["product.product"].create({"name": "Our catalogue item",
                                                      "type": "consu"})
        account = self.company_data["default_account_expense"].copy({"code": "402198"})
        first.write({"invoice_line_ids": [Command.update(line.id, {
            "product_id": product.id, "account_id": account.id})]})
        emu.seed_incoming_invoices(TEST_NIP, 1, sellers=[seller], lines=2, seed=652)
        emu.advance_hwm()
        self.assertEqual(self.run_import()["run"].created_count, 1)
        second = self.bills() - first
        self.assertEqual(second.partner_id, first.partner_id)
        learnt = second.invoice_line_ids.filtered(
            lambda new: new.l10n_pl_ksef_source_name == line.l10n_pl_ksef_source_name)
        self.assertEqual(learnt.product_id, product)
        self.assertEqual(learnt.account_id, account)
        self.assert_in_sync()
