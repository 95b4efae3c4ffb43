"""The import cursor: advanced only with the stored invoices, truncation, late invoices,
faults mid-import, Retry-After and the minimum interval.

The increments come from a small in-test KSeF store (PermanentStorage dates, HWM,
truncation) standing in for ``ksef.sync.fetch_increment`` until the core's sync and
the emulator's seeding are available; test_import_emulator.py runs the same
scenarios against the real emulator."""
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from unittest.mock import patch

from odoo import fields
from odoo.addons.account.tests.common import AccountTestInvoicingCommon
from odoo.tests import tagged
from odoo.tools import mute_logger

from ..ksef import errors as ksef_errors

SAMPLE = os.path.normpath(os.path.join(
    os.path.dirname(os.path.realpath(__file__)), "..", "..", "shared", "ksef", "samples", "fa3",
    "FA_3_Przykład_1.xml"))
CURSOR_MODULE = "odoo.addons.l10n_pl_ksef.models.l10n_pl_ksef_import_cursor"


@dataclass
class Doc:
    ksef_number: str
    xml: bytes
    metadata: dict = field(default_factory=dict)
    error: str = None


@dataclass
class Increment:
    invoices: list
    new_checkpoint: datetime
    is_complete: bool


class FakeStore:
    """Invoices by PermanentStorage date; queries from a checkpoint, truncated at ``page``."""

    def __init__(self, page=40):
        self.page = page
        self.items = []   # (storage date, Doc)
        self.hwm = datetime(2026, 1, 1, tzinfo=timezone.utc)
        self.calls = 0
        self.fail_at_call = None

    def add(self, count, start, xml, issue_date=None):
        for i in range(count):
            stored = start + timedelta(seconds=i)
            number = "9999999999-%s-%012X-%02d" % (stored.strftime("%Y%m%d"),
                                                   len(self.items) + 1, len(self.items) % 100)
            body = xml if issue_date is None else xml.replace(
                b"<P_1>2026-02-15</P_1>", b"<P_1>%s</P_1>" % issue_date.encode())
            self.items.append((stored, Doc(number, body, {
                "acquisitionDate": stored.isoformat(),
                "permanentStorageDate": stored.isoformat()})))
        self.hwm = max(self.hwm, self.items[-1][0] + timedelta(seconds=1))

    def fetch(self, client, checkpoint):
        self.calls += 1
        if self.fail_at_call == self.calls:
            raise ksef_errors.KSeFServerError("KSeF failed (HTTP 500).", http_status=500)
        chosen = sorted((item for item in self.items if checkpoint <= item[0] < self.hwm),
                        key=lambda item: item[0])
        if len(chosen) > self.page:
            chosen = chosen[:self.page]
            # like KSeF: the next window starts AT the last date (contiguous, may repeat)
            return Increment([d for _s, d in chosen], chosen[-1][0], False)
        return Increment([d for _s, d in chosen], self.hwm, True)


@tagged("post_install", "-at_install")
class TestKsefImportCursor(AccountTestInvoicingCommon):

    @classmethod
    @AccountTestInvoicingCommon.setup_country("pl")
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.company_data["company"]
        cls.company.write({"vat": "PL1111111111", "country_id": cls.env.ref("base.pl").id})
        with open(SAMPLE, "rb") as handle:
            cls.xml = handle.read()
        cls.cursor = cls.env["l10n_pl_ksef.import.cursor"]._l10n_pl_ksef_get(cls.company)
        cls.cursor.start_date = datetime(2026, 1, 1)

    def setUp(self):
        super().setUp()
        self.store = FakeStore()
        self.startPatcher(patch.object(type(self.cursor), "_l10n_pl_ksef_fetch_increment",
                                       lambda cursor, client, checkpoint:
                                       self.store.fetch(client, checkpoint)))

    def run_import(self, **kwargs):
        self.cursor.next_run_after = False   # tests do not wait 15 minutes
        return self.cursor._l10n_pl_ksef_run(client=object(), **kwargs)

    def bills(self):
        return self.env["account.move"].search([("company_id", "=", self.company.id),
                                                ("l10n_pl_ksef_imported", "=", True)])

    def assert_all_imported_once(self):
        numbers = self.bills().mapped("l10n_pl_ksef_number")
        self.assertEqual(len(numbers), len(set(numbers)), "duplicated bills")
        self.assertEqual(sorted(numbers), sorted(d.ksef_number for _s, d in self.store.items),
                         "missed bills")

    # ------------------------------------------------------------------
    def test_paging_truncation_and_late_invoice(self):
        self.store.add(130, datetime(2026, 2, 1, tzinfo=timezone.utc), self.xml)
        result = self.run_import()
        self.assertEqual(result["state"], "done", result["message"])
        self.assertEqual(self.store.calls, 4)  # 40 + 40 + 40 + 10 (truncated windows)
        self.assert_all_imported_once()
        run = result["run"]
        self.assertEqual(run.created_count, 130)
        self.assertEqual(run.increment_count, 4)
        self.assertGreater(run.duplicate_count, 0)  # windows start at the last date: re-seen
        self.assertEqual(self.cursor.checkpoint_date, fields.Datetime.to_datetime(
            "2026-02-01 00:02:10"))
        # a late offline invoice: issued in January, stored in KSeF only now
        self.store.add(1, datetime(2026, 2, 3, tzinfo=timezone.utc), self.xml,
                       issue_date="2026-01-05")
        result = self.run_import()
        self.assertEqual(result["run"].created_count, 1)
        self.assert_all_imported_once()
        late = self.bills().filtered(lambda m: str(m.invoice_date) == "2026-01-05")
        self.assertEqual(len(late), 1)
        # nothing new: nothing created
        result = self.run_import()
        self.assertEqual((result["run"].document_count, result["run"].created_count), (0, 0))

    def test_fault_between_increments_resumes_from_checkpoint(self):
        self.store.add(100, datetime(2026, 2, 1, tzinfo=timezone.utc), self.xml)
        self.store.fail_at_call = 2
        with mute_logger(CURSOR_MODULE):
            result = self.run_import()
        self.assertEqual(result["state"], "failed")
        self.assertIn("HTTP 500", result["message"])
        self.assertEqual(len(self.bills()), 40)
        checkpoint = self.cursor.checkpoint
        self.assertTrue(checkpoint)
        self.store.fail_at_call = None
        self.assertEqual(self.run_import()["state"], "done")
        self.assert_all_imported_once()

    def test_crash_while_storing_leaves_cursor_where_it_was(self):
        self.store.add(30, datetime(2026, 2, 1, tzinfo=timezone.utc), self.xml)
        Move = type(self.env["account.move"])
        with patch.object(Move, "_l10n_pl_ksef_import_notify",
                          side_effect=RuntimeError("worker killed")), \
                mute_logger(CURSOR_MODULE):
            result = self.run_import()
        self.assertEqual(result["state"], "failed")
        self.assertFalse(self.bills(), "the increment's bills must be rolled back")
        self.assertFalse(self.cursor.checkpoint, "the cursor must not move")
        self.assertEqual(self.run_import()["state"], "done")
        self.assert_all_imported_once()

    def test_rate_limited_reschedules_without_sleeping(self):
        self.store.add(5, datetime(2026, 2, 1, tzinfo=timezone.utc), self.xml)
        cron = self.env.ref("l10n_pl_ksef.ir_cron_l10n_pl_ksef_import")
        triggers_before = self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)])

        def limited(client, checkpoint):
            raise ksef_errors.KSeFRateLimited("Too many requests", http_status=429,
                                              retry_after=600)
        self.store.fetch = limited
        started = datetime.now()
        result = self.run_import()
        self.assertLess((datetime.now() - started).total_seconds(), 5)
        self.assertEqual(result["state"], "rate_limited")
        self.assertGreaterEqual(self.cursor.next_run_after,
                                fields.Datetime.now() + timedelta(seconds=590))
        triggers = self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)])
        self.assertEqual(len(triggers), triggers_before + 1)
        self.assertGreaterEqual(max(triggers.mapped("call_at")), self.cursor.next_run_after
                                - timedelta(seconds=1))
        # a run before Retry-After has passed does not call KSeF
        calls = self.store.calls
        result = self.cursor._l10n_pl_ksef_run(client=object())
        self.assertEqual(result["state"], "skipped")
        self.assertEqual(self.store.calls, calls)

    def test_minimum_interval_per_company(self):
        self.store.add(3, datetime(2026, 2, 1, tzinfo=timezone.utc), self.xml)
        self.env["ir.config_parameter"].sudo().set_param(
            "l10n_pl_ksef.import_min_interval_minutes", "1")   # below the floor: 15 used
        self.assertEqual(self.run_import()["state"], "done")
        self.assertGreaterEqual(self.cursor.next_run_after - self.cursor.last_run_at,
                                timedelta(minutes=15))
        result = self.cursor._l10n_pl_ksef_run(client=object())  # straight after
        self.assertEqual(result["state"], "skipped")
        self.assertIn("allows the next download", result["message"])
        self.assertEqual(self.store.calls, 1)

    def test_refused_document_is_recorded_and_cursor_moves_past_it_visibly(self):
        self.store.add(3, datetime(2026, 2, 1, tzinfo=timezone.utc), self.xml)
        self.store.items[1][1].xml = None
        self.store.items[1][1].error = "Oversize document (4 MB) refused."
        with mute_logger("odoo.addons.l10n_pl_ksef.models.l10n_pl_ksef_import_log"):
            result = self.run_import()
        self.assertEqual((result["run"].created_count, result["run"].error_count), (2, 1))
        error = self.env["l10n_pl_ksef.import.error"].search([("company_id", "=",
                                                               self.company.id)])
        self.assertEqual(error.ksef_number, self.store.items[1][1].ksef_number)
        self.assertEqual(error.run_id, result["run"])
        self.assertEqual(error.state, "open")

    def test_manual_button_reports_result(self):
        self.store.add(2, datetime(2026, 2, 1, tzinfo=timezone.utc), self.xml)
        with patch.object(type(self.company), "_l10n_pl_ksef_get_client",
                          lambda company: object()):
            action = self.env["account.move"].with_company(
                self.company).action_l10n_pl_ksef_import_now()
        self.assertEqual(action["tag"], "display_notification")
        self.assertEqual(action["params"]["type"], "success")
        self.assertEqual(len(self.bills()), 2)
        self.assertEqual(self.cursor.last_run_id.trigger, "manual")
