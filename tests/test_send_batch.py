"""Batch sessions in the sending cron, against the emulator: one ZIP for many invoices, results
mapped back by hash, one UPO download, and faults around open/upload/close/status settled
without losing or duplicating an invoice."""
from odoo.tests import tagged

from ..ksef.crypto import sha256_b64
from ..ksef.ksef_number import is_valid_ksef_number
from ..models.l10n_pl_ksef_submission import KsefFault
from .send_common import KsefSendCommon

OPEN = "/sessions/batch"
CLOSE = "/sessions/batch/{referenceNumber}/close"
STATUS = "/sessions/{referenceNumber}"


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefSendBatch(KsefSendCommon):

    def setUp(self):
        super().setUp()
        self.emulator.faults.clear()
        self.addCleanup(self.emulator.faults.clear)
        self.emulator.set_unavailable(False)
        self.connect_token()
        self.config.batch_threshold = 5

    # --- helpers -----------------------------------------------------------
    def queue(self, count):
        moves = self.env["account.move"]
        for i in range(count):
            moves |= self.make_invoice([(10.0 + i, 1 + i % 3, ("23", "8", "5")[i % 3])])
        moves._l10n_pl_ksef_enqueue()
        self.assertEqual(set(moves.mapped("l10n_pl_ksef_state")), {"queued"})
        return moves

    def cron(self):
        self.env["account.move"]._cron_l10n_pl_ksef_send()

    def crash(self, moves, step):
        # not assertRaises: it would roll back what the worker had written (and committed)
        try:
            moves.with_context(l10n_pl_ksef_fault=step)._l10n_pl_ksef_send_now()
        except KsefFault:
            return
        self.fail("the simulated crash at %s did not happen" % step)

    def copies(self, move):
        return [inv for inv in self.emulator.state.invoices.values()
                if inv.get("invoiceHash") == move.l10n_pl_ksef_invoice_hash
                and inv["status"]["code"] == 200]

    def batch_sessions(self):
        return [s for s in self.emulator.state.sessions.values() if s.get("type") == "Batch"]

    def assertAllAcceptedOnce(self, moves):
        for move in moves:
            self.assertEqual(move.l10n_pl_ksef_state, "accepted", "%s: %s" % (
                move.name, move.l10n_pl_ksef_message))
            self.assertTrue(is_valid_ksef_number(move.l10n_pl_ksef_number))
            copies = self.copies(move)
            self.assertEqual(len(copies), 1, "%s is %d times in KSeF" % (move.name, len(copies)))
            self.assertEqual(copies[0]["ksefNumber"], move.l10n_pl_ksef_number)
            self.assertIn("-SB-", copies[0]["sessionRef"], "not sent in a batch session")

    # --- happy path ----------------------------------------------------------
    def test_twenty_invoices_one_batch(self):
        moves = self.queue(20)
        self.emulator.reset_counters()
        self.cron()
        self.assertAllAcceptedOnce(moves)
        counters = dict(self.emulator.counters)
        self.assertEqual(counters.get("POST /sessions/batch"), 1, counters)
        self.assertEqual(counters.get("POST /sessions/batch/{referenceNumber}/close"), 1, counters)
        self.assertFalse(counters.get("POST /sessions/online"), counters)
        self.assertFalse(counters.get("POST /sessions/online/{referenceNumber}/invoices"), counters)
        api_requests = sum(n for key, n in counters.items() if " /storage/" not in key)
        self.assertLessEqual(api_requests, 12, counters)
        submission = moves.l10n_pl_ksef_submission_id
        self.assertEqual(len(submission), 1)
        self.assertEqual(submission.kind, "batch")
        self.assertEqual(submission.state, "done")
        self.assertIn("-SB-", submission.reference)
        # one UPO page downloaded once, kept whole, each invoice's entry recorded
        self.assertEqual(counters.get("GET /sessions/{referenceNumber}/upo/{upoReferenceNumber}"), 1)
        self.assertEqual(len(submission.upo_ids), 1)
        self.assertEqual(moves.l10n_pl_ksef_upo_id, submission.upo_ids)
        for move in moves:
            self.assertIn("NumerKSeFDokumentu: %s" % move.l10n_pl_ksef_number, move.l10n_pl_ksef_upo_entry)
            self.assertIn(move.l10n_pl_ksef_invoice_hash, move.l10n_pl_ksef_upo_entry)
            self.assertTrue(move.l10n_pl_ksef_acquisition_date)
        self.assertEqual(submission.upo_ids.raw.count(b"<Dokument>"), 20)
        # nothing happens on later runs
        self.emulator.reset_counters()
        self.cron()
        self.assertFalse(self.emulator.counters.get("POST /sessions/batch"))
        self.assertAllAcceptedOnce(moves)

    def test_threshold_setting(self):
        self.config.batch_threshold = 10
        moves = self.queue(6)
        self.emulator.reset_counters()
        self.cron()
        self.assertFalse(self.emulator.counters.get("POST /sessions/batch"))
        self.assertEqual(self.emulator.counters.get("POST /sessions/online/{referenceNumber}/invoices"), 6)
        for move in moves:
            self.assertEqual(move.l10n_pl_ksef_state, "accepted")
            self.assertEqual(len(self.copies(move)), 1)

    def test_one_invalid_invoice_rejected_with_reasons(self):
        moves = self.queue(7)
        bad = moves[3]
        # an invoice KSeF refuses (issue date after the day KSeF receives it: status 450)
        xml = bad.l10n_pl_ksef_xml_id.raw.replace(b"<P_1>2026-02-02</P_1>", b"<P_1>2049-02-02</P_1>")
        self.assertNotEqual(xml, bad.l10n_pl_ksef_xml_id.raw)
        bad.l10n_pl_ksef_xml_id.raw = xml
        bad.l10n_pl_ksef_invoice_hash = sha256_b64(xml)
        self.cron()
        self.assertEqual(bad.l10n_pl_ksef_state, "rejected")
        self.assertIn("450", bad.l10n_pl_ksef_message)
        self.assertIn("2049-02-02", bad.l10n_pl_ksef_message)
        self.assertFalse(bad.l10n_pl_ksef_number)
        self.assertIn("Rejected by KSeF", bad.message_ids[0].body)
        self.assertAllAcceptedOnce(moves - bad)
        self.assertEqual(len(self.batch_sessions()[-1]["invoiceRefs"]), 7)

    # --- faults ----------------------------------------------------------------
    def test_close_answer_lost_and_status_failing(self):
        """drop_after_accept on close (KSeF processed the batch, we got no answer) and 5xx on
        every status request: the invoices wait as sent; the next run settles them by hash."""
        moves = self.queue(8)
        self.emulator.faults.add("drop_after_accept", path=CLOSE, method="POST")
        self.emulator.faults.add("http500", path=STATUS, method="GET", count=None)
        self.cron()
        self.assertEqual(set(moves.mapped("l10n_pl_ksef_state")), {"sent"})
        self.assertEqual(moves.l10n_pl_ksef_submission_id.state, "closing")
        self.emulator.faults.clear()
        self.cron()
        self.assertAllAcceptedOnce(moves)

    def test_http500_on_close_closes_again(self):
        moves = self.queue(6)
        before = len(self.batch_sessions())
        self.emulator.reset_counters()
        self.emulator.faults.add("http500", path=CLOSE, method="POST")
        self.cron()           # close answered 500 (not handled): settled by closing again
        self.assertAllAcceptedOnce(moves)
        self.assertEqual(self.emulator.counters.get("POST %s" % CLOSE), 2)
        self.assertEqual(len(self.batch_sessions()), before + 1)

    def test_open_answer_lost(self):
        """KSeF opened the session but the answer was lost: nothing was uploaded or closed, so
        the invoices are sent again in a new session; the first one is never processed."""
        moves = self.queue(6)
        before = len(self.batch_sessions())
        self.emulator.faults.add("drop_after_accept", path=OPEN, method="POST")
        self.cron()
        self.assertEqual(set(moves.mapped("l10n_pl_ksef_state")), {"queued"})
        self.assertEqual(len(self.batch_sessions()), before + 1)
        self.cron()
        self.assertAllAcceptedOnce(moves)
        sessions = self.batch_sessions()[before:]
        self.assertEqual([s["status"]["code"] for s in sessions], [100, 200])

    def test_429_on_open_reschedules(self):
        moves = self.queue(6)
        cron = self.env.ref("l10n_pl_ksef.ir_cron_l10n_pl_ksef_send")
        before = self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)])
        self.emulator.faults.add("http429", path=OPEN, method="POST", retry_after=90)
        self.cron()
        self.assertEqual(set(moves.mapped("l10n_pl_ksef_state")), {"queued"})
        self.assertIn("slow down", moves[0].l10n_pl_ksef_message)
        self.assertGreater(self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]), before)
        self.cron()
        self.assertAllAcceptedOnce(moves)

    def test_crash_before_open(self):
        moves = self.queue(6)
        self.crash(moves, "before_send")
        self.assertEqual(set(moves.mapped("l10n_pl_ksef_state")), {"sent"})
        self.assertFalse(moves.l10n_pl_ksef_submission_id.reference)
        self.cron()           # no reference: nothing can be in KSeF -> queued -> sent
        self.cron()
        self.assertAllAcceptedOnce(moves)

    def test_crash_after_open_before_upload(self):
        moves = self.queue(6)
        self.crash(moves, "batch_opened")
        submission = moves.l10n_pl_ksef_submission_id
        self.assertTrue(submission.reference)   # written before any upload
        self.assertEqual(submission.state, "open")
        self.cron()           # open, never closed: KSeF will not process it -> sent again
        self.cron()
        self.assertAllAcceptedOnce(moves)
        self.assertEqual(self.emulator.state.sessions[submission.reference]["status"]["code"], 100)

    def test_crash_before_close(self):
        moves = self.queue(6)
        self.crash(moves, "before_close")
        submission = moves.l10n_pl_ksef_submission_id
        self.assertEqual(submission.state, "closing")
        self.assertEqual(self.emulator.state.sessions[submission.reference]["status"]["code"], 100)
        self.cron()           # parts uploaded, close may be lost: close again, then settle
        self.assertAllAcceptedOnce(moves)
        self.assertEqual(len(self.batch_sessions()[-1]["invoiceRefs"]), 6)

    def test_crash_after_close(self):
        moves = self.queue(6)
        self.crash(moves, "after_send")
        self.assertEqual(set(moves.mapped("l10n_pl_ksef_state")), {"sent"})
        self.cron()
        self.assertAllAcceptedOnce(moves)

    def test_many_faults_nothing_lost_nothing_twice(self):
        moves = self.queue(12)
        self.emulator.faults.add("drop_after_accept", path=OPEN, method="POST", count=1)
        self.emulator.faults.add("http500", path=CLOSE, method="POST", count=1)
        self.emulator.faults.add("drop_after_accept", path=CLOSE, method="POST", count=1)
        self.emulator.faults.add("http500", path=STATUS, method="GET", count=4)
        for _i in range(4):
            self.cron()
        self.assertAllAcceptedOnce(moves)
