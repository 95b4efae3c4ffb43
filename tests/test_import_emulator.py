"""Purchase import against the real KSeF emulator (ksef.sync + emulator seeding).

Skipped, with the reason, while the core lacks ``ksef.sync.fetch_increment`` or the
emulator lacks ``seed_incoming_invoices`` (round 2 of the core contract).
"""
import unittest

from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import TEST_NIP, KsefTestCommon

CURSOR_MODULE = "odoo.addons.l10n_pl_ksef.models.l10n_pl_ksef_import_cursor"


@tagged("post_install", "-at_install")
class TestKsefImportEmulator(KsefTestCommon):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            from ..ksef import sync  # noqa: F401 - presence check
        except ImportError as exc:
            raise unittest.SkipTest("ksef.sync is not in the core yet: %s" % exc) from exc
        if not hasattr(cls.emulator, "seed_incoming_invoices"):
            raise unittest.SkipTest("the emulator cannot seed incoming invoices yet")
        cls.env["ir.config_parameter"].sudo().set_param(
            "l10n_pl_ksef.import_max_increments_per_run", "100")

    def setUp(self):
        super().setUp()
        self.connect_token()
        self.cursor = self.env["l10n_pl_ksef.import.cursor"]._l10n_pl_ksef_get(self.company)
        self.cursor.start_date = "2020-01-01 00:00:00"

    def run_import(self):
        self.cursor.next_run_after = False   # tests do not wait 15 minutes
        return self.cursor._l10n_pl_ksef_run()

    def assert_exactly(self, numbers):
        bills = self.env["account.move"].search([("company_id", "=", self.company.id),
                                                 ("l10n_pl_ksef_imported", "=", True)])
        got = bills.mapped("l10n_pl_ksef_number")
        self.assertEqual(len(got), len(set(got)), "duplicated bills")
        self.assertEqual(set(got), set(numbers), "missed or foreign bills")
        self.assertEqual(set(bills.mapped("state")), {"draft"})
        return bills

    def test_500_invoices_late_offline_and_faults(self):
        numbers = self.emulator.seed_incoming_invoices(TEST_NIP, 500, lines=2)
        self.emulator.advance_hwm()
        self.emulator.reset_counters()
        result = self.run_import()
        self.assertEqual(result["state"], "done", result["message"])
        self.assert_exactly(numbers)
        requests = sum(self.emulator.counters.values())
        self.assertLessEqual(requests, 30, self.emulator.counters)

        # a late offline invoice: old issue date, stored in KSeF only now
        late = self.emulator.seed_incoming_invoices(TEST_NIP, 1, offline_late=1)
        self.emulator.advance_hwm()
        self.assertEqual(self.run_import()["run"].created_count, 1)
        numbers += late

        # faults mid-import: KSeF fails, the run stops, nothing is skipped on the retry
        more = self.emulator.seed_incoming_invoices(TEST_NIP, 120)
        self.emulator.advance_hwm()
        self.emulator.faults.add("http503", count=None)
        with mute_logger(CURSOR_MODULE):
            result = self.run_import()
        self.assertIn(result["state"], ("failed", "rate_limited"))
        self.emulator.faults.clear()
        self.assertEqual(self.run_import()["state"], "done")
        self.assert_exactly(numbers + more)

        # again: nothing new, nothing duplicated
        self.assertEqual(self.run_import()["run"].created_count, 0)
        self.assert_exactly(numbers + more)

    def test_rate_limit_reschedules(self):
        self.emulator.seed_incoming_invoices(TEST_NIP, 3)
        self.emulator.advance_hwm()
        self.emulator.faults.add("http429", count=None, retry_after=120)
        result = self.run_import()
        self.emulator.faults.clear()
        self.assertEqual(result["state"], "rate_limited", result["message"])
        self.assertTrue(self.cursor.next_run_after)
