import os
import tempfile

from odoo.tests import tagged

from ..ksef import certs as ksef_certs
from ..ksef import qr as ksef_qr
from .send_common import KsefSendCommon

SEND_PATH = "/sessions/online/{referenceNumber}/invoices"


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefSendOffline(KsefSendCommon):

    def setUp(self):
        super().setUp()
        self.emulator.faults.clear()
        self.emulator.set_unavailable(False)
        self.addCleanup(self.emulator.set_unavailable, False)
        self.connect_token()

    def add_offline_certificate(self):
        test_cert = self.make_cert(cert_type=ksef_certs.OFFLINE, password="haslo-123")  # noqa: S106 (test key)
        credentials = ksef_certs.load_credentials(test_cert.cert_pem, test_cert.key_pem, "haslo-123",
                                                  expected_type=ksef_certs.OFFLINE)
        self.config._l10n_pl_ksef_store_offline_certificate(credentials, "offline", test_cert.key_pem,
                                                            "haslo-123")
        return test_cert

    def render_pdf(self, move, name):
        """The report as the PDF engine gets it (HTML): wkhtmltopdf cannot fetch its assets from
        the test server. The visual check is bench/check_invoice_pdf.py (see its docstring)."""
        html = self.html(move)
        path = os.path.join(tempfile.gettempdir(), "ksef_%s.html" % name)
        with open(path, "w") as handle:
            handle.write(html)
        return path

    def html(self, move):
        html, _type = self.env["ir.actions.report"]._render_qweb_html("account.account_invoices", move.ids)
        return html.decode()

    def test_offline_refused_without_certificate(self):
        move = self.make_invoice()
        queued = move._l10n_pl_ksef_enqueue(mode="offline24", raise_on_problems=False)
        self.assertFalse(queued)
        self.assertIn("Offline certificate", move.l10n_pl_ksef_message)
        self.assertFalse(move.l10n_pl_ksef_state)

    def test_offline24_two_codes_then_number(self):
        test_cert = self.add_offline_certificate()
        move = self.make_invoice()
        move.action_l10n_pl_ksef_issue_offline()
        self.assertEqual(move.l10n_pl_ksef_state, "queued")
        self.assertEqual(move.l10n_pl_ksef_mode, "offline24")
        self.assertTrue(move.l10n_pl_ksef_deadline)
        codes = move._l10n_pl_ksef_qr_codes()
        self.assertEqual([c["name"] for c in codes], ["KOD I", "KOD II"])
        self.assertEqual(codes[0]["label"], "OFFLINE")
        self.assertEqual(codes[1]["label"], "CERTYFIKAT")
        self.assertTrue(ksef_qr.verify_certificate_url(codes[1]["url"], test_cert.cert_pem))
        html = self.html(move)
        self.assertIn('data-ksef-code="KOD II"', html)
        self.render_pdf(move, "offline_before")
        # the cron sends it with offlineMode=true before the deadline
        self.env["account.move"]._cron_l10n_pl_ksef_send()
        self.assertEqual(move.l10n_pl_ksef_state, "accepted", move.l10n_pl_ksef_message)
        held = [i for i in self.emulator.state.invoices.values()
                if i.get("invoiceHash") == move.l10n_pl_ksef_invoice_hash]
        self.assertEqual(len(held), 1)
        self.assertEqual(held[0].get("offlineMode"), True)
        codes = move._l10n_pl_ksef_qr_codes()
        self.assertEqual(codes[0]["label"], move.l10n_pl_ksef_number)   # reprint: number under KOD I
        self.assertEqual(len(codes), 2)
        self.render_pdf(move, "offline_after")

    def test_online_pdf_one_code_and_outside_ksef_none(self):
        move = self.make_invoice()
        self.assertEqual(move._l10n_pl_ksef_qr_codes(), [])
        self.assertNotIn("l10n_pl_ksef_qr", self.html(move))
        move.action_l10n_pl_ksef_send()
        codes = move._l10n_pl_ksef_qr_codes()
        self.assertEqual(len(codes), 1)
        self.assertEqual(codes[0]["label"], move.l10n_pl_ksef_number)
        # evaluation mode: the emulator is its own QR host (test_evaluation_mode.py)
        self.assertTrue(codes[0]["url"].startswith(self.emulator.url[:-3] + "/invoice/"))
        html = self.html(move)
        self.assertIn('data-ksef-code="KOD I"', html)
        self.assertNotIn('data-ksef-code="KOD II"', html)
        self.render_pdf(move, "online")

    def test_auto_switch_when_unavailable(self):
        self.add_offline_certificate()
        move = self.make_invoice()
        self.emulator.set_unavailable(True)
        move.action_l10n_pl_ksef_send()
        self.assertEqual(move.l10n_pl_ksef_state, "queued")
        self.assertEqual(move.l10n_pl_ksef_mode, "offline")
        # due the next business day after the unavailability ends: not known yet
        self.assertEqual(move.l10n_pl_ksef_deadline_status, "pending")
        self.assertTrue(move.l10n_pl_ksef_outage_id)
        self.assertEqual(len(move._l10n_pl_ksef_qr_codes()), 2)
        self.emulator.set_unavailable(False)
        self.env["account.move"]._cron_l10n_pl_ksef_send()
        self.assertEqual(move.l10n_pl_ksef_state, "accepted")

    def test_unavailable_without_certificate_stays_queued(self):
        move = self.make_invoice()
        self.emulator.set_unavailable(True)
        move.action_l10n_pl_ksef_send()
        self.assertEqual(move.l10n_pl_ksef_state, "queued")
        self.assertEqual(move.l10n_pl_ksef_mode, "online")
        self.assertIn("not reachable", move.l10n_pl_ksef_message)

    def test_deadline_activity(self):
        self.add_offline_certificate()
        move = self.make_invoice()
        move._l10n_pl_ksef_enqueue(mode="offline24")
        from ..ksef import offline as ksef_offline
        # pretend today is one business day before the deadline
        warn_day = ksef_offline.business_days_before(move.l10n_pl_ksef_deadline, 1)
        from unittest.mock import patch

        from odoo import fields
        with patch.object(fields.Date, "context_today", lambda *a, **k: warn_day):
            self.env["account.move"]._l10n_pl_ksef_warn_deadlines()
        self.assertTrue(move.activity_ids)
        self.assertTrue(move.l10n_pl_ksef_deadline_warned)


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefCoexistence(KsefSendCommon):
    """l10n_pl_edi (Odoo's own KSeF module) is installed in this database with l10n_pl."""

    def test_l10n_pl_edi_never_sends_our_invoices(self):
        if "l10n_pl_edi_status" not in self.env["account.move"]._fields:
            self.skipTest("l10n_pl_edi is not installed")
        self.connect_token()
        move = self.make_invoice()
        send = self.env["account.move.send"]
        edis = send._get_all_extra_edis()
        self.assertIn("l10n_pl_ksef", edis)
        self.assertTrue(edis["l10n_pl_ksef"]["is_applicable"](move))
        self.assertFalse(edis["pl_ksef"]["is_applicable"](move))
        # even when asked explicitly, Odoo's option is dropped for a connected company
        data = {move: {"extra_edis": {"pl_ksef", "l10n_pl_ksef"}}}
        send._l10n_pl_ksef_strip_odoo_edi(data)
        self.assertEqual(data[move]["extra_edis"], {"l10n_pl_ksef"})
        send._call_web_service_before_invoice_pdf_render(data)
        self.assertEqual(move.l10n_pl_ksef_state, "accepted")
        self.assertFalse(move.l10n_pl_edi_status)

    def test_we_never_send_what_l10n_pl_edi_sent(self):
        if "l10n_pl_edi_status" not in self.env["account.move"]._fields:
            self.skipTest("l10n_pl_edi is not installed")
        self.connect_token()
        move = self.make_invoice()
        move.l10n_pl_edi_status = "sent"
        move.action_l10n_pl_ksef_send()
        self.assertFalse(move.l10n_pl_ksef_state)
        self.assertIn("l10n_pl_edi", move.l10n_pl_ksef_message)

    def test_not_connected_company_keeps_l10n_pl_edi(self):
        if "l10n_pl_edi_status" not in self.env["account.move"]._fields:
            self.skipTest("l10n_pl_edi is not installed")
        move = self.make_invoice()
        edis = self.env["account.move.send"]._get_all_extra_edis()
        self.assertFalse(edis["l10n_pl_ksef"]["is_applicable"](move))
        data = {move: {"extra_edis": {"pl_ksef"}}}
        self.env["account.move.send"]._l10n_pl_ksef_strip_odoo_edi(data)
        self.assertEqual(data[move]["extra_edis"], {"pl_ksef"})
