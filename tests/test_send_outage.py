"""Automatic offline switch and KSeF outages, against the emulator.

* only "KSeF unreachable" (connection refused, DNS) and "KSeF reports unavailability" (503)
  switch waiting online invoices to the offline mode; a single 500 or a timeout does not;
* the switch records an automatic outage, the invoices link to it and their deadline waits for
  its end ("pending"); the cron ends it when KSeF answers again;
* outages recorded by a KSeF manager (end of an unavailability, failure, total failure) recompute
  the deadlines of the offline invoices still waiting.
"""
import socket
import time
from datetime import date, datetime, timedelta
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged
from odoo.tools import mute_logger

from ..ksef import certs as ksef_certs
from ..ksef import offline as ksef_offline
from ..ksef.crypto import sha256_b64
from ..models.l10n_pl_ksef_outage import polish_date
from .send_common import INVOICE_DATE, KsefSendCommon

OPEN_ONLINE = "/sessions/online"


class OutageCommon(KsefSendCommon):
    """Connected company with an Offline certificate; helpers (no tests of its own)."""

    def setUp(self):
        super().setUp()
        self.emulator.faults.clear()
        self.addCleanup(self.emulator.faults.clear)
        self.emulator.set_unavailable(False)
        self.addCleanup(self.emulator.set_unavailable, False)
        self.connect_token()
        test_cert = self.make_cert(cert_type=ksef_certs.OFFLINE, password="haslo-123")  # noqa: S106 (test key)
        credentials = ksef_certs.load_credentials(test_cert.cert_pem, test_cert.key_pem, "haslo-123",
                                                  expected_type=ksef_certs.OFFLINE)
        self.config._l10n_pl_ksef_store_offline_certificate(credentials, "offline", test_cert.key_pem,
                                                            "haslo-123")
        self.Outage = self.env["l10n_pl_ksef.outage"]

    # --- helpers -------------------------------------------------------------
    def cron(self):
        self.env["account.move"]._cron_l10n_pl_ksef_send()

    def outages(self):
        return self.Outage.search([("company_id", "=", self.company.id)])

    def held(self, move):
        return [inv for inv in self.emulator.state.invoices.values()
                if inv.get("invoiceHash") == move.l10n_pl_ksef_invoice_hash
                and inv["status"]["code"] == 200]

    def assertAcceptedOnce(self, move):
        self.assertEqual(move.l10n_pl_ksef_state, "accepted", move.l10n_pl_ksef_message)
        self.assertEqual(len(self.held(move)), 1)

    def declare(self, kind, start, end=None):
        """An outage recorded by a KSeF manager (dates at noon UTC = the same Polish day)."""
        return self.Outage.with_user(self.manager).create({
            "company_id": self.company.id, "kind": kind,
            "date_start": datetime.combine(start, datetime.min.time()).replace(hour=12),
            "date_end": end and datetime.combine(end, datetime.min.time()).replace(hour=12)})

    @staticmethod
    def closed_port_url():
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        return "http://127.0.0.1:%d/v2" % port



@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefSendOutage(OutageCommon):

    # --- 1. what switches to offline -------------------------------------------
    def test_http500_does_not_switch(self):
        moves = self.make_invoice() | self.make_invoice([(7.0, 2, "8")])
        # every attempt of the (retried) session opening fails with 500
        self.emulator.faults.add("http500", path=OPEN_ONLINE, method="POST", count=10)
        moves.action_l10n_pl_ksef_send()
        self.emulator.faults.clear()
        self.assertEqual(moves.mapped("l10n_pl_ksef_mode"), ["online", "online"])
        self.assertEqual(moves.mapped("l10n_pl_ksef_state"), ["queued", "queued"])
        self.assertIn("stays queued", moves[0].l10n_pl_ksef_message)
        self.assertFalse(self.outages())
        self.cron()
        for move in moves:
            self.assertAcceptedOnce(move)
            self.assertEqual(move.l10n_pl_ksef_mode, "online")

    def test_http500_on_send_does_not_switch_the_others(self):
        first, second = self.make_invoice(), self.make_invoice([(9.0, 1, "5")])
        self.emulator.faults.add("http500", path=OPEN_ONLINE + "/{referenceNumber}/invoices", method="POST")
        (first | second).action_l10n_pl_ksef_send()
        self.assertEqual(first.l10n_pl_ksef_state, "sent")       # outcome unknown: settled, not resent
        self.assertEqual(second.l10n_pl_ksef_state, "queued")
        self.assertEqual(second.l10n_pl_ksef_mode, "online")
        self.assertFalse(self.outages())
        self.cron()
        self.assertAcceptedOnce(first)
        self.assertAcceptedOnce(second)

    def test_timeout_does_not_switch(self):
        first, second = self.make_invoice(), self.make_invoice([(3.0, 4, "23")])
        # no answer to the first send (outcome unknown; Odoo's test harness waits 10 s)
        self.emulator.faults.add("timeout", path=OPEN_ONLINE + "/{referenceNumber}/invoices", method="POST",
                                 seconds=12)
        (first | second).action_l10n_pl_ksef_send()
        self.assertEqual(first.l10n_pl_ksef_state, "sent")
        self.assertEqual(second.l10n_pl_ksef_state, "queued")
        self.assertEqual((first | second).mapped("l10n_pl_ksef_mode"), ["online", "online"])
        self.assertIn("stays queued", second.l10n_pl_ksef_message)
        self.assertFalse(self.outages())
        self.cron()
        self.assertAcceptedOnce(first)
        self.assertAcceptedOnce(second)

    def test_unavailable_switches_records_and_ends_outage(self):
        move = self.make_invoice()
        self.emulator.set_unavailable(True)
        move.action_l10n_pl_ksef_send()
        self.assertEqual(move.l10n_pl_ksef_state, "queued")
        self.assertEqual(move.l10n_pl_ksef_mode, "offline")
        outage = self.outages()
        self.assertEqual(len(outage), 1)
        self.assertEqual((outage.kind, outage.automatic, outage.date_end), ("offline", True, False))
        self.assertEqual(move.l10n_pl_ksef_outage_id, outage)
        # the unavailability has not ended: no date yet, no deadline activity
        self.assertEqual(move.l10n_pl_ksef_deadline_status, "pending")
        self.assertFalse(move.l10n_pl_ksef_deadline)
        self.assertIn("after the outage ends", move.l10n_pl_ksef_deadline_note)
        self.assertEqual(len(move._l10n_pl_ksef_qr_codes()), 2)
        self.env["account.move"]._l10n_pl_ksef_warn_deadlines()
        self.assertFalse(move.activity_ids)
        # still unavailable: a second run records no second outage
        self.cron()
        self.assertEqual(len(self.outages()), 1)
        # KSeF is back: sent with offlineMode=true, the automatic outage ends
        self.emulator.set_unavailable(False)
        self.cron()
        self.assertAcceptedOnce(move)
        self.assertTrue(self.held(move)[0].get("offlineMode"))
        self.assertTrue(outage.date_end)

    def test_unreachable_switches_to_offline24(self):
        """No answer at all and nothing announced: the cause may be our own network, so the
        taxpayer's offline24 mode (due the next business day after issue), no outage."""
        move = self.make_invoice()
        config_class = type(self.config)
        with patch.object(config_class, "_l10n_pl_ksef_api_target", lambda *a, **k: self.closed_port_url()):
            move.action_l10n_pl_ksef_send()
        self.assertEqual(move.l10n_pl_ksef_mode, "offline24")
        self.assertEqual(move.l10n_pl_ksef_state, "queued")
        self.assertFalse(move.l10n_pl_ksef_outage_id)
        self.assertFalse(self.outages())
        self.assertEqual(move.l10n_pl_ksef_deadline_status, "due")
        self.assertTrue(move.l10n_pl_ksef_deadline)
        self.cron()
        self.assertAcceptedOnce(move)
        self.assertTrue(self.held(move)[0].get("offlineMode"))

    def test_unreachable_during_recorded_outage_switches_to_offline(self):
        """While an outage is recorded (KSeF reported unavailability earlier), an unreachable
        KSeF keeps the offline mode of that outage."""
        first = self.make_invoice()
        self.emulator.set_unavailable(True)
        first.action_l10n_pl_ksef_send()
        outage = first.l10n_pl_ksef_outage_id
        self.assertTrue(outage.automatic)
        self.emulator.set_unavailable(False)
        move = self.make_invoice()
        config_class = type(self.config)
        with patch.object(config_class, "_l10n_pl_ksef_api_target", lambda *a, **k: self.closed_port_url()):
            move.action_l10n_pl_ksef_send()
        self.assertEqual(move.l10n_pl_ksef_mode, "offline")
        self.assertEqual(move.l10n_pl_ksef_outage_id, outage)
        self.cron()
        self.assertAcceptedOnce(move)
        self.assertTrue(outage.date_end)
        # the deadline of an invoice already in KSeF is no longer recomputed
        self.assertEqual(move.l10n_pl_ksef_deadline_status, "pending")

    def test_declared_failure_switches_to_emergency(self):
        failure = self.Outage.with_user(self.manager).create({
            "company_id": self.company.id, "kind": "emergency",
            "date_start": fields.Datetime.now() - timedelta(minutes=1)})
        move = self.make_invoice()
        self.emulator.set_unavailable(True)
        move.action_l10n_pl_ksef_send()
        self.assertEqual(move.l10n_pl_ksef_mode, "emergency")
        self.assertEqual(move.l10n_pl_ksef_outage_id, failure)
        self.assertEqual(self.outages(), failure)       # no automatic outage besides it
        self.assertEqual(move.l10n_pl_ksef_deadline_status, "pending")
        self.emulator.set_unavailable(False)
        self.cron()
        self.assertAcceptedOnce(move)
        self.assertFalse(failure.date_end, "only the ministry ends a failure, not a successful send")

    # --- 2. deadlines from outages -------------------------------------------
    def test_end_of_unavailability_sets_the_deadline(self):
        outage = self.declare("offline", INVOICE_DATE)
        move = self.make_invoice()
        move._l10n_pl_ksef_enqueue(mode="offline")
        self.assertEqual(move.l10n_pl_ksef_outage_id, outage)
        self.assertEqual((move.l10n_pl_ksef_deadline_status, move.l10n_pl_ksef_deadline), ("pending", False))
        outage.with_user(self.manager).date_end = datetime(2026, 2, 3, 12, 0)   # Tuesday
        self.assertEqual(move.l10n_pl_ksef_deadline_status, "due")
        self.assertEqual(move.l10n_pl_ksef_deadline, date(2026, 2, 4))

    def test_emergency_end_counts_seven_business_days(self):
        failure = self.declare("emergency", INVOICE_DATE)
        move = self.make_invoice()
        move._l10n_pl_ksef_enqueue(mode="emergency")
        self.assertEqual(move.l10n_pl_ksef_outage_id, failure)
        self.assertIn("7 business day", move.l10n_pl_ksef_deadline_note)
        failure.with_user(self.manager).date_end = datetime(2026, 2, 5, 12, 0)   # Thursday
        self.assertEqual(move.l10n_pl_ksef_deadline, ksef_offline.add_business_days(date(2026, 2, 5), 7))
        self.assertEqual(move.l10n_pl_ksef_deadline, date(2026, 2, 16))

    def test_failure_announced_moves_offline24_deadline(self):
        move = self.make_invoice()
        move.action_l10n_pl_ksef_issue_offline()
        self.assertEqual((move.l10n_pl_ksef_deadline_status, move.l10n_pl_ksef_deadline),
                         ("due", date(2026, 2, 3)))
        move.l10n_pl_ksef_deadline_warned = True
        failure = self.declare("emergency", date(2026, 2, 3))
        self.assertEqual(move.l10n_pl_ksef_deadline_status, "pending")
        self.assertFalse(move.l10n_pl_ksef_deadline)
        failure.with_user(self.manager).date_end = datetime(2026, 2, 5, 12, 0)
        self.assertEqual(move.l10n_pl_ksef_deadline, date(2026, 2, 16))
        self.assertFalse(move.l10n_pl_ksef_deadline_warned, "a moved deadline is warned about again")
        # recorded by mistake and removed: the deadline is back; a failure announced after the
        # deadline changes nothing
        failure.with_user(self.manager).unlink()
        self.assertEqual(move.l10n_pl_ksef_deadline, date(2026, 2, 3))
        self.declare("emergency", date(2026, 2, 4), date(2026, 2, 5))
        self.assertEqual((move.l10n_pl_ksef_deadline_status, move.l10n_pl_ksef_deadline),
                         ("due", date(2026, 2, 3)))

    def test_total_failure_cancels_the_obligation(self):
        move = self.make_invoice()
        move.action_l10n_pl_ksef_issue_offline()
        total = self.declare("total_failure", INVOICE_DATE)
        self.assertEqual(move.l10n_pl_ksef_deadline_status, "cancelled")
        self.assertFalse(move.l10n_pl_ksef_deadline)
        self.assertIn("does not have to be sent", move.l10n_pl_ksef_deadline_note)
        self.assertEqual(move._l10n_pl_ksef_qr_codes(), [])
        # recorded by mistake: removing it restores the deadline
        total.with_user(self.manager).unlink()
        self.assertEqual((move.l10n_pl_ksef_deadline_status, move.l10n_pl_ksef_deadline),
                         ("due", date(2026, 2, 3)))
        self.assertEqual(len(move._l10n_pl_ksef_qr_codes()), 2)

    def test_deadline_activity_after_end(self):
        outage = self.declare("offline", INVOICE_DATE)
        move = self.make_invoice()
        move._l10n_pl_ksef_enqueue(mode="offline")
        warn_day = date(2026, 2, 3)
        with patch.object(fields.Date, "context_today", lambda *a, **k: warn_day):
            self.env["account.move"]._l10n_pl_ksef_warn_deadlines()
        self.assertFalse(move.activity_ids, "pending: no deadline, no activity")
        outage.date_end = datetime(2026, 2, 3, 12, 0)
        with patch.object(fields.Date, "context_today", lambda *a, **k: warn_day):
            self.env["account.move"]._l10n_pl_ksef_warn_deadlines()
        self.assertTrue(move.activity_ids)

    def test_only_managers_edit_outages(self):
        outage = self.declare("offline", INVOICE_DATE)
        self.assertTrue(outage.with_user(self.accountant).read(["kind"]))
        with self.assertRaises(AccessError):
            outage.with_user(self.accountant).write({"date_end": fields.Datetime.now()})
        with self.assertRaises(AccessError):
            self.Outage.with_user(self.accountant).create({"company_id": self.company.id})
        outage.with_user(self.manager).action_l10n_pl_ksef_end_now()
        self.assertTrue(outage.date_end)


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefTechnicalCorrection(OutageCommon):
    """A rejected offline invoice corrected technically (ksef-docs offline/korekta-techniczna.md)."""

    def rejected_offline(self):
        move = self.make_invoice()
        move.action_l10n_pl_ksef_issue_offline()
        # the stored file is broken (as if the software had produced an invalid FA(3))
        broken = b"<Faktura>broken</Faktura>"
        move.l10n_pl_ksef_xml_id.raw = broken
        move.l10n_pl_ksef_invoice_hash = sha256_b64(broken)
        move._l10n_pl_ksef_send_now()
        self.assertEqual(move.l10n_pl_ksef_state, "rejected")
        return move, sha256_b64(broken)

    def test_technical_correction_accepted_and_linked(self):
        move, broken_hash = self.rejected_offline()
        self.assertIn(move.l10n_pl_ksef_rejection_code, (430, 450))
        self.assertTrue(move.l10n_pl_ksef_can_correct)
        move.with_user(self.accountant).action_l10n_pl_ksef_technical_correction()
        self.assertAcceptedOnce(move)
        self.assertEqual(move.l10n_pl_ksef_corrected_hash, broken_hash)
        self.assertNotEqual(move.l10n_pl_ksef_invoice_hash, broken_hash)
        held = self.held(move)[0]
        self.assertEqual(held["hashOfCorrectedInvoice"], broken_hash)
        self.assertTrue(held["offlineMode"])
        self.assertIn("-SO-", held["sessionRef"], "a technical correction goes in an online session")
        self.assertFalse(move.l10n_pl_ksef_can_correct)
        with self.assertRaises(UserError):
            move.action_l10n_pl_ksef_technical_correction()

    def test_technical_correction_only_for_technical_rejections(self):
        move, _hash = self.rejected_offline()
        move.l10n_pl_ksef_rejection_code = 410      # permissions: not fixable this way
        self.assertFalse(move.l10n_pl_ksef_can_correct)
        with self.assertRaises(UserError):
            move.action_l10n_pl_ksef_technical_correction()
        online = self.make_invoice()
        online.write({"l10n_pl_ksef_state": "rejected", "l10n_pl_ksef_rejection_code": 430,
                      "l10n_pl_ksef_invoice_hash": "x"})
        self.assertFalse(online.l10n_pl_ksef_can_correct)
        with self.assertRaises(UserError):
            online.action_l10n_pl_ksef_technical_correction()


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefOutagesFromTheMinistry(OutageCommon):
    """The ministry's availability service (Latarnia, served by the emulator) drives the outage
    records: announced, moved and ended without a person typing them."""

    def setUp(self):
        super().setUp()
        saved = dict(self.emulator.latarnia)
        self.emulator.latarnia.clear()
        self.addCleanup(self.emulator.latarnia.update, saved)
        self.addCleanup(self.emulator.latarnia.clear)

    def read_ministry(self):
        return self.Outage._cron_l10n_pl_ksef_latarnia()

    def test_failure_announced_moved_and_ended(self):
        emu = self.emulator
        manual = self.declare("offline", date(2026, 1, 5), date(2026, 1, 5))
        now = time.time()
        event = emu.announce_outage("FAILURE", now - 120, title="Awaria KSeF",
                                    text="Trwa awaria systemu KSeF.")
        touched = self.read_ministry()
        failure = self.outages().filtered("source_ref")
        self.assertEqual(touched, failure)
        self.assertEqual((failure.kind, failure.source_ref), ("emergency", "latarnia:%d" % event))
        self.assertFalse(failure.date_end)
        self.assertIn("Trwa awaria", failure.announcement)
        self.assertEqual(self.Outage._l10n_pl_ksef_current(self.company), failure)
        # an invoice issued now goes to the emergency mode of the ministry's failure
        move = self.make_invoice()
        emu.set_unavailable(True)
        move.action_l10n_pl_ksef_send()
        self.assertEqual((move.l10n_pl_ksef_mode, move.l10n_pl_ksef_outage_id),
                         ("emergency", failure))
        self.assertEqual(move.l10n_pl_ksef_deadline_status, "pending")
        emu.set_unavailable(False)
        # reading again changes nothing; the ministry ends it: the deadline follows
        self.assertFalse(self.read_ministry())
        emu.update_outage(event, end=now - 5)
        self.assertEqual(self.read_ministry(), failure)
        self.assertTrue(failure.date_end)
        self.assertEqual(move.l10n_pl_ksef_deadline_status, "due")
        self.assertEqual(move.l10n_pl_ksef_deadline, ksef_offline.add_business_days(
            polish_date(failure.date_end), 7))
        self.assertEqual(self.outages(), failure | manual, "manual records stay as they are")
        self.assertEqual((manual.date_start, manual.date_end),
                         (datetime(2026, 1, 5, 12, 0), datetime(2026, 1, 5, 12, 0)))

    def test_maintenance_announced_ahead_is_not_current_until_it_starts(self):
        emu = self.emulator
        now = time.time()
        event = emu.announce_outage("MAINTENANCE", now + 3600, now + 7200,
                                    title="Prace serwisowe KSeF")
        self.read_ministry()
        maintenance = self.outages().filtered("source_ref")
        self.assertEqual(maintenance.kind, "offline")
        self.assertFalse(self.Outage._l10n_pl_ksef_current(self.company))
        emu.update_outage(event, start=now - 60)             # moved: it has begun
        self.read_ministry()
        self.assertEqual(self.Outage._l10n_pl_ksef_current(self.company), maintenance)
        self.assertEqual(len(self.outages()), 1, "a moved event is the same record")

    def test_service_unreadable_changes_nothing(self):
        emu = self.emulator
        emu.announce_outage("FAILURE", time.time() - 60)
        self.read_ministry()
        failure = self.outages()
        emu.faults.add("http500", path="/latarnia/messages", count=None)
        with mute_logger("odoo.addons.l10n_pl_ksef.models.l10n_pl_ksef_outage",
                         "odoo.addons.l10n_pl_ksef.ksef.transport"):
            self.assertFalse(self.read_ministry())
        self.assertEqual(self.outages(), failure)
        self.assertFalse(failure.date_end)

    def test_total_failure_and_old_events(self):
        emu = self.emulator
        now = time.time()
        emu.announce_outage("FAILURE", now - 90 * 86400, now - 80 * 86400)   # long over
        emu.announce_outage("TOTAL_FAILURE", now - 600, title="Awaria całkowita")
        self.read_ministry()
        self.assertEqual(self.outages().mapped("kind"), ["total_failure"])
