"""Crons at office scale: an error of any kind in one company never stops the others.

Two client companies connected to the emulator, each with its own token. One of them (B) fails
in its turn of the send or import cron in one of three ways: KSeF refuses (its token revoked),
a bug in our code (its mapping patched to raise) or a PostgreSQL serialization failure (raised
by the database itself, SQLSTATE 40001, leaving the transaction aborted as a real one does).
The crons run their production path (one transaction per company, commits through
``ir.cron._commit_progress``); since a test may not commit, COMMIT and ROLLBACK are played by a
savepoint: what was "committed" survives a later "rollback", as in PostgreSQL.
"""
import contextlib
import time
from unittest.mock import patch

from odoo import Command
from odoo.tests import tagged

from ..models import l10n_pl_ksef_import_cursor as cursor_module
from .common import OTHER_NIP, TEST_NIP
from .send_common import _NUMBERS, INVOICE_DATE, KsefSendCommon

LOGGER = "odoo.addons.l10n_pl_ksef"
SERIALIZATION_FAILURE = ("DO $$ BEGIN RAISE EXCEPTION 'could not serialize access due to "
                         "concurrent update' USING ERRCODE = 'serialization_failure'; END $$")


class KsefTwoCompaniesCommon(KsefSendCommon):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["ir.config_parameter"].sudo().set_param(
            "l10n_pl_ksef.import_max_increments_per_run", "100")
        cls.other = cls.setup_other_company(name="Klient B sp. z o.o.")["company"]
        cls.other.write({"vat": "PL" + OTHER_NIP, "country_id": cls.env.ref("base.pl").id})
        cls.other.partner_id.write({"street": "ul. Krzywa 2", "zip": "00-002", "city": "Warszawa"})
        cls.other_config = cls.other._l10n_pl_ksef_get_config()
        cls.manager.company_ids |= cls.other

    def setUp(self):
        super().setUp()
        self.addCleanup(self.emulator.faults.clear)
        self.connect_token()
        self.other_token = self.emulator.make_ksef_token(OTHER_NIP)
        self.env["l10n_pl_ksef.connect.wizard"].with_user(self.manager).with_context(
                allowed_company_ids=[self.other.id, self.company.id]).create({
            "config_id": self.other_config.id, "environment": "emulator", "auth_method": "token",
            "token": self.other_token}).action_l10n_pl_ksef_connect()
        self.assertEqual(self.other_config.state, "connected")

    # --- helpers -----------------------------------------------------------------------
    @contextlib.contextmanager
    def production_transactions(self):
        """The crons' production path; COMMIT = a new savepoint, ROLLBACK = back to it."""
        cr = self.env.cr
        cr.flush()
        cr.execute("SAVEPOINT ksef_cron_tx")

        def commit():
            cr.flush()
            cr.execute("RELEASE SAVEPOINT ksef_cron_tx")
            cr.execute("SAVEPOINT ksef_cron_tx")
            cr.clear()

        def rollback():
            cr.clear()
            cr.execute("ROLLBACK TO SAVEPOINT ksef_cron_tx")
            self.env.invalidate_all()

        Submission = type(self.env["l10n_pl_ksef.submission"])
        with patch.object(cr, "commit", commit), patch.object(cr, "rollback", rollback), \
                patch.object(Submission, "_can_commit", lambda self: True), \
                patch.object(cursor_module, "_in_test", lambda: False):
            yield rollback
        cr.execute("RELEASE SAVEPOINT ksef_cron_tx")

    def break_ksef_login(self, config, token):
        """KSeF refuses the company from now on: its token is revoked, its session gone."""
        self.emulator.revoke_ksef_token(token)
        config.sudo().session_encrypted = False

    def raise_serialization_failure(self):
        self.env.cr.execute(SERIALIZATION_FAILURE, log_exceptions=False)


@tagged("post_install", "-at_install")
class TestKsefSendCronErrors(KsefTwoCompaniesCommon):

    def queue_other(self):
        tax = self.env["account.chart.template"].with_company(self.other).ref("vs_kraj_23")
        move = self.env["account.move"].with_company(self.other).create({
            "move_type": "out_invoice", "partner_id": self.company.partner_id.id,
            "invoice_date": INVOICE_DATE, "date": INVOICE_DATE,
            "invoice_line_ids": [Command.create({"product_id": self.product.id, "name": "Usługa",
                                                 "price_unit": 100.0, "quantity": 1,
                                                 "tax_ids": [Command.set(tax.ids)]})]})
        move.name = "FV/2026/B%05d" % next(_NUMBERS)
        move.action_post()
        move._l10n_pl_ksef_enqueue()
        return move

    def run_send_cron(self, fault_of_other=None):
        """Both companies queued; B's turn comes first (A had one an hour ago). Returns
        (A's invoice, B's invoice, the captured log records)."""
        mine = self.make_invoice()
        mine._l10n_pl_ksef_enqueue()
        theirs = self.queue_other()
        self.config.sudo().send_turn_at = "2026-01-01 00:00:00"
        self.other_config.sudo().send_turn_at = False
        with self.production_transactions() as rollback, \
                self.assertLogs(LOGGER, level="WARNING") as logs:
            with fault_of_other or contextlib.nullcontext():
                self.env["l10n_pl_ksef.submission"]._cron_process()
            # A's work was committed: a rollback now leaves it as it is
            rollback()
        return mine, theirs, logs

    def assertOtherCompanyServed(self, mine):
        mine.invalidate_recordset()
        self.assertEqual(mine.l10n_pl_ksef_state, "accepted")
        self.assertTrue(mine.l10n_pl_ksef_number)
        self.config.invalidate_recordset()
        self.assertFalse(self.config.send_error)

    def test_ksef_refusing_one_company(self):
        self.break_ksef_login(self.other_config, self.other_token)
        mine, theirs, logs = self.run_send_cron()
        self.assertOtherCompanyServed(mine)
        self.other_config.invalidate_recordset()
        self.assertEqual(self.other_config.state, "error")
        self.assertTrue(self.other_config.send_error)
        self.assertEqual(theirs.l10n_pl_ksef_state, "queued")
        self.assertTrue(theirs.l10n_pl_ksef_message)
        self.assertTrue(any(self.other.name in line for line in logs.output))
        # the cockpit shows it on that company
        row = self.env["l10n_pl_ksef.cockpit"].browse(self.other.id)
        self.assertEqual((row.health, bool(row.send_error), row.queued_count), ("problem", True, 1))

    def test_bug_in_one_company(self):
        Move = type(self.env["account.move"])
        original = Move._l10n_pl_ksef_xml
        other = self.other

        def buggy_xml(move):
            if move.company_id == other:
                raise ZeroDivisionError("mapping bug of one company")
            return original(move)

        mine, theirs, logs = self.run_send_cron(patch.object(Move, "_l10n_pl_ksef_xml", buggy_xml))
        self.assertOtherCompanyServed(mine)
        self.assertTrue(any("ERROR" in line and "ZeroDivisionError" in line for line in logs.output))
        self.other_config.invalidate_recordset()
        self.assertIn("ZeroDivisionError", self.other_config.send_error)
        self.assertEqual(self.other_config.state, "connected")   # not a connection problem
        # the state written (committed) before the request stays; nothing was sent twice: the
        # next run settles it by its hash, sends it once and clears the problem
        theirs.invalidate_recordset()
        self.assertIn(theirs.l10n_pl_ksef_state, ("queued", "sent"))
        self.assertFalse(theirs.l10n_pl_ksef_number)
        self.other_config.sudo().send_turn_at = False
        with self.production_transactions():
            self.env["l10n_pl_ksef.submission"]._cron_process()
        theirs.invalidate_recordset()
        self.other_config.invalidate_recordset()
        self.assertEqual(theirs.l10n_pl_ksef_state, "accepted")
        self.assertFalse(self.other_config.send_error)
        held = [row for row in self.emulator.state.table("invoices").values()
                if row.get("invoiceHash") == theirs.l10n_pl_ksef_invoice_hash]
        self.assertLessEqual(len(held), 1)

    def test_serialization_failure_in_one_company(self):
        Move = type(self.env["account.move"])
        original = Move._l10n_pl_ksef_mark_sent
        other, test = self.other, self

        def conflicting_mark_sent(moves, submission):
            original(moves, submission)
            if moves.company_id == other:
                test.raise_serialization_failure()

        mine, theirs, logs = self.run_send_cron(
            patch.object(Move, "_l10n_pl_ksef_mark_sent", conflicting_mark_sent))
        self.assertOtherCompanyServed(mine)
        self.assertTrue(any("SerializationFailure" in line for line in logs.output))
        self.other_config.invalidate_recordset()
        self.assertIn("Another process changed the same data", self.other_config.send_error)
        # B's uncommitted step was rolled back: the invoice is queued again, nothing lost
        theirs.invalidate_recordset()
        self.assertEqual(theirs.l10n_pl_ksef_state, "queued")


@tagged("post_install", "-at_install")
class TestKsefImportCronErrors(KsefTwoCompaniesCommon):

    def setUp(self):
        super().setUp()
        emu = self.emulator
        with emu.lock:
            stored = [row.get("permanentStorageTs") or 0
                      for row in emu.state.table("invoices").values()]
        last = max(stored + [emu.hwm_fixed or 0, time.time() - 30]) + 0.001
        time.sleep(max(0.0, last + 1.0 - time.time()))
        since = emu.advance_hwm(last)
        Cursor = self.env["l10n_pl_ksef.import.cursor"]
        self.cursor = Cursor._l10n_pl_ksef_get(self.company)
        self.other_cursor = Cursor._l10n_pl_ksef_get(self.other)
        (self.cursor | self.other_cursor).write({
            "checkpoint": since.isoformat(), "boundary_numbers": False, "next_run_after": False,
            "last_run_at": False})
        self.mine = set(emu.seed_incoming_invoices(TEST_NIP, 2, lines=1, seed=1201))
        self.theirs = set(emu.seed_incoming_invoices(OTHER_NIP, 2, lines=1, seed=1202))
        emu.advance_hwm()
        # B has the first turn (never imported), A the second
        self.cursor.last_run_at = "2026-01-01 00:00:00"

    def imported(self, company):
        return set(self.env["account.move"].search([
            ("company_id", "=", company.id), ("l10n_pl_ksef_imported", "=", True)]
        ).mapped("l10n_pl_ksef_number"))

    def run_import_cron(self, fault_of_other=None):
        """The scheduled import until no export is being prepared (KSeF may need a moment:
        the cron then picks the export up at its next look, brought forward here)."""
        cursors = self.cursor | self.other_cursor
        capture = self.assertLogs(LOGGER, level="WARNING") if fault_of_other \
            else contextlib.nullcontext()
        with self.production_transactions() as rollback, capture as logs, \
                fault_of_other or contextlib.nullcontext():
            for _attempt in range(40):
                self.env["l10n_pl_ksef.import.cursor"]._cron_l10n_pl_ksef_import()
                cursors.invalidate_recordset()
                # an export whose run failed (the fault persists) waits for the next test step
                pending = cursors.filtered(lambda c: c.export_reference and not c.last_error)
                if not pending:
                    break
                pending.sudo().write({"export_poll_after": False})
                time.sleep(0.25)
            rollback()      # A's bills were committed: they stay
        return logs

    def assertFailedThenRecovers(self, fault, expected_in_error, expected_in_log):
        logs = self.run_import_cron(fault)
        self.assertEqual(self.imported(self.company), self.mine)
        self.assertFalse(self.imported(self.other))
        self.assertTrue(any(expected_in_log in line for line in logs.output), logs.output)
        self.other_cursor.invalidate_recordset()
        self.assertIn(expected_in_error, self.other_cursor.last_error)
        run = self.other_cursor.last_run_id
        self.assertEqual(run.state, "failed")       # never left "Running"
        row = self.env["l10n_pl_ksef.cockpit"].browse(self.other.id)
        self.assertEqual((row.health, row.import_error), ("problem", self.other_cursor.last_error))
        self.assertFalse(self.env["l10n_pl_ksef.cockpit"].browse(self.company.id).import_error)
        # fixed: the next run imports B's invoices from the same point, the problem is cleared
        self.other_cursor.next_run_after = False
        self.run_import_cron()
        self.other_cursor.invalidate_recordset()
        self.assertEqual(self.imported(self.other), self.theirs)
        self.assertFalse(self.other_cursor.last_error)
        self.assertEqual(self.imported(self.company), self.mine)

    def test_ksef_refusing_one_company(self):
        self.break_ksef_login(self.other_config, self.other_token)
        logs = self.run_import_cron(contextlib.nullcontext())
        self.assertEqual(self.imported(self.company), self.mine)
        self.assertFalse(self.imported(self.other))
        self.assertTrue(any("failed" in line for line in logs.output))
        self.other_cursor.invalidate_recordset()
        self.assertTrue(self.other_cursor.last_error)
        self.assertEqual(self.other_cursor.last_run_id.state, "failed")
        self.assertEqual(self.env["l10n_pl_ksef.cockpit"].browse(self.other.id).health, "problem")

    def test_bug_in_one_company(self):
        Move = type(self.env["account.move"])
        original = Move._l10n_pl_ksef_import_documents
        other = self.other

        def buggy_import(moves, company, documents, **kwargs):
            if company == other:
                raise ZeroDivisionError("mapping bug of one company")
            return original(moves, company, documents, **kwargs)

        self.assertFailedThenRecovers(
            patch.object(Move, "_l10n_pl_ksef_import_documents", buggy_import),
            "ZeroDivisionError", "failed unexpectedly")

    def test_serialization_failure_in_one_company(self):
        Move = type(self.env["account.move"])
        original = Move._l10n_pl_ksef_import_documents
        other, test = self.other, self

        def conflicting_import(moves, company, documents, **kwargs):
            result = original(moves, company, documents, **kwargs)
            if company == other:
                test.raise_serialization_failure()
            return result

        self.assertFailedThenRecovers(
            patch.object(Move, "_l10n_pl_ksef_import_documents", conflicting_import),
            "Another process changed the same data", "SerializationFailure")


@tagged("post_install", "-at_install")
class TestKsefCertificateCronErrors(KsefTwoCompaniesCommon):

    def test_database_error_in_one_company(self):
        """A database error in one company's certificate work (a serialization failure) is
        rolled back to that company's savepoint and logged; the next company's work is done and
        the transaction stays usable."""
        configs = (self.config | self.other_config).sorted("id")
        configs.sudo().write({"offline_enroll_reference": "20261205-CE-TEST"})
        calls = []
        Config = type(self.env["l10n_pl_ksef.config"])

        def collect(config):
            calls.append(config.id)
            config.sudo().offline_enroll_message = "collected %s" % config.id
            config.env.flush_all()
            if len(calls) == 1:
                config.env.cr.execute(SERIALIZATION_FAILURE, log_exceptions=False)

        with patch.object(Config, "_l10n_pl_ksef_collect_enrollment", collect), \
                self.assertLogs(LOGGER, level="ERROR") as logs:
            self.env["l10n_pl_ksef.config"]._cron_l10n_pl_ksef_certificates()
        self.assertEqual(calls, configs.ids)
        self.assertIn("company %s failed" % configs[0].company_id.id, "\n".join(logs.output))
        self.env.flush_all()
        self.env.cr.execute("SELECT id, offline_enroll_message FROM l10n_pl_ksef_config "
                            "WHERE id = ANY(%s) ORDER BY id", [configs.ids])
        self.assertEqual(self.env.cr.fetchall(), [
            (configs[0].id, None),                                   # rolled back
            (configs[1].id, "collected %s" % configs[1].id)])       # done
