"""Evaluation mode (a company on the local KSeF emulator): the invoice PDF says it has no legal
effect, and its KOD I / KOD II point at the emulator, whose verification pages answer like the
ministry's (ksef/emulator/verify.py): scanning the printed code checks the invoice locally."""
import requests
from odoo.tests import tagged

from ..ksef import certs as ksef_certs
from .send_common import KsefSendCommon
from .test_send_offline import TestKsefSendOffline

BANNER_EN = "Evaluation — no legal effect (KSeF emulator)"
BANNER_PL = "Wersja ewaluacyjna — bez skutków prawnych (emulator KSeF)"


@tagged("post_install", "-at_install")
class TestKsefEvaluationMode(KsefSendCommon):
    # the helpers of the offline tests (their tests run in their own class only)
    add_offline_certificate = TestKsefSendOffline.add_offline_certificate
    render_pdf = TestKsefSendOffline.render_pdf
    html = TestKsefSendOffline.html

    def setUp(self):
        super().setUp()
        self.emulator.faults.clear()
        self.emulator.set_unavailable(False)
        self.connect_token()

    def test_evaluation_pdf_banner_and_links_to_the_emulator(self):
        root = self.emulator.url[:-3]
        self.assertTrue(root.startswith("http://127.0.0.1:"))
        move = self.make_invoice()
        self.assertIn(BANNER_EN, self.html(move))          # before sending, too
        move.action_l10n_pl_ksef_send()
        self.assertEqual(move.l10n_pl_ksef_state, "accepted", move.l10n_pl_ksef_message)
        codes = move._l10n_pl_ksef_qr_codes()
        self.assertTrue(codes[0]["url"].startswith(root + "/invoice/"), codes[0]["url"])
        html = self.html(move)
        self.assertIn(BANNER_EN, html)
        self.assertIn("l10n_pl_ksef_evaluation", html)
        self.render_pdf(move, "evaluation_online")
        # what a phone shows after scanning KOD I
        page = requests.get(codes[0]["url"], timeout=10)
        self.assertEqual(page.status_code, 200)
        self.assertIn("Faktura jest w KSeF.", page.text)
        self.assertIn(move.l10n_pl_ksef_number, page.text)

    def test_evaluation_offline_kod2_on_the_emulator(self):
        test_cert = self.add_offline_certificate()
        move = self.make_invoice()
        move._l10n_pl_ksef_enqueue(mode="offline24")
        codes = move._l10n_pl_ksef_qr_codes()
        root = self.emulator.url[:-3]
        self.assertEqual([c["name"] for c in codes], ["KOD I", "KOD II"])
        self.assertTrue(codes[1]["url"].startswith(root + "/certificate/Nip/"), codes[1]["url"])
        page = requests.get(codes[0]["url"], timeout=10)
        self.assertIn("nie ma (jeszcze) w KSeF", page.text)     # not sent yet
        # the test certificate was not issued by this KSeF: the page says so
        page = requests.get(codes[1]["url"], timeout=10)
        self.assertIn("KSeF nie wydał certyfikatu o tym numerze seryjnym.", page.text)
        self.assertIn(ksef_certs.serial_hex(ksef_certs.load_certificate(test_cert.cert_pem)),
                      page.text)

    def test_no_banner_outside_evaluation_and_polish_banner(self):
        move = self.make_invoice()
        self.env["res.lang"]._activate_lang("pl_PL")
        self.env["ir.module.module"]._load_module_terms(["l10n_pl_ksef"], ["pl_PL"])
        move.partner_id.lang = "pl_PL"
        self.assertIn(BANNER_PL, self.html(move))
        self.config.environment = "test"
        self.assertFalse(move._l10n_pl_ksef_is_evaluation())
        html = self.html(move)
        self.assertNotIn(BANNER_PL, html)
        self.assertNotIn("l10n_pl_ksef_evaluation", html)
