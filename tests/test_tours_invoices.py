"""Invoices and bills, walked in a real browser in English and in Polish.

The paths of README.md ("Using it": sending, the queue cron, credit notes, offline invoicing,
importing purchase invoices, the FA(3) visualisation) as an accountant meets them; the steps are
in static/tests/tours/l10n_pl_ksef_tours_invoices.js. The same tours run for an English and for
a Polish user: they find fields and buttons by name and read what the user sees in the user's
language; here the outcome is checked in the database, with the messages Odoo keeps in the
user's language.
"""
import time

from odoo.tests import tagged

from ..ksef import certs as ksef_certs
from ..ksef import qr as ksef_qr
from .common import KEY_PASSWORD, TEST_NIP
from .send_common import KsefSendCommon
from .test_tours import KsefTourMixin

#: what Odoo keeps in the chatter, per language (the Polish of i18n/pl.po)
EXPECTED = {
    "en_US": {"accepted": "Accepted by KSeF. KSeF number:"},
    "pl_PL": {"accepted": "Przyjęta przez KSeF. Numer KSeF:"},
}


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefInvoiceTours(KsefSendCommon, KsefTourMixin):
    """The accountant works in ``LANG`` (so does the company: the cron writes in its language)."""

    LANG = "en_US"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if cls.LANG != "en_US":
            cls.env["res.lang"]._activate_lang(cls.LANG)
            cls.env["ir.module.module"]._load_module_terms(["l10n_pl_ksef"], [cls.LANG])
        (cls.accountant | cls.manager | cls.env.ref("base.user_admin")).lang = cls.LANG
        cls.company.partner_id.lang = cls.LANG
        # a customer with an e-mail address: the Send wizard sends it by e-mail as well
        cls.buyer.email = "ksiegowosc@odbiorca.example"

    def setUp(self):
        super().setUp()
        self.connect_token()

    def expected(self, key):
        return EXPECTED[self.LANG][key]

    def invoice_url(self, move=None, action="account.action_move_out_invoice_type"):
        action = self.env.ref(action)
        return "/odoo/action-%s%s" % (action.id, "/%s" % move.id if move else "")

    def walk(self, url, tour):
        self.start_tour(url, tour, login=self.accountant.login)
        self.env.invalidate_all()

    def assertAccepted(self, move):
        self.assertEqual(move.l10n_pl_ksef_state, "accepted", move.l10n_pl_ksef_message)
        self.assertTrue(move.l10n_pl_ksef_number.startswith(TEST_NIP + "-"))
        self.assertTrue(move.l10n_pl_ksef_upo_id, "the UPO is kept")
        held = [i for i in self.emulator.state.invoices.values()
                if i.get("invoiceHash") == move.l10n_pl_ksef_invoice_hash]
        self.assertEqual(len(held), 1, "KSeF holds the invoice once")
        self.assertLogged(move, self.expected("accepted"))

    def assertLogged(self, move, text):
        bodies = [str(body) for body in move.message_ids.mapped("body")]
        self.assertTrue(any(text in body for body in bodies),
                        "%r not in the chatter of %s: %s" % (text, move.name, bodies))

    # --- 1. Odoo's Send wizard with the KSeF option -----------------------------------------
    def test_send_from_the_send_wizard(self):
        move = self.make_invoice()
        self.walk(self.invoice_url(move), "l10n_pl_ksef_send_wizard")
        self.assertAccepted(move)
        self.assertTrue(move.is_move_sent, "the Send wizard marks the invoice as sent")

    # --- 2. the queue: confirmed with "send when posted", the scheduled action sends it -----
    def test_queue_sent_by_the_scheduled_action(self):
        self.config.send_on_post = True
        move = self.make_invoice(post=False)
        self.walk(self.invoice_url(move), "l10n_pl_ksef_confirm_queued")
        self.assertEqual((move.state, move.l10n_pl_ksef_state), ("posted", "queued"))
        # the scheduled action, as Odoo's cron runner runs it: its server action as its user
        cron = self.env.ref("l10n_pl_ksef.ir_cron_l10n_pl_ksef_send")
        cron.ir_actions_server_id.with_user(cron.user_id).with_context(
            lang=cron.user_id.lang).run()
        self.env.invalidate_all()
        self.assertAccepted(move)
        self.walk(self.invoice_url(), "l10n_pl_ksef_queue_accepted")

    # --- 3. a credit note (KOR) of an accepted invoice --------------------------------------
    def test_credit_note_of_an_accepted_invoice(self):
        invoice = self.make_invoice()
        invoice.action_l10n_pl_ksef_send()
        self.assertEqual(invoice.l10n_pl_ksef_state, "accepted", invoice.l10n_pl_ksef_message)
        self.walk(self.invoice_url(invoice), "l10n_pl_ksef_credit_note")
        refund = invoice.reversal_move_ids
        self.assertEqual(len(refund), 1)
        self.assertEqual(refund.move_type, "out_refund")
        self.assertAccepted(refund)
        xml = refund._l10n_pl_ksef_xml().decode()
        self.assertIn("<RodzajFaktury>KOR</RodzajFaktury>", xml)
        self.assertIn("<NrKSeFFaKorygowanej>%s</NrKSeFFaKorygowanej>"
                      % invoice.l10n_pl_ksef_number, xml)
        self.assertIn("Zwrot towaru", xml)

    # --- 4. issuing offline and printing ----------------------------------------------------
    def test_issue_offline_and_print(self):
        # an Offline certificate stored (as tests/test_send_offline.py does)
        test_cert = self.make_cert(cert_type=ksef_certs.OFFLINE)
        credentials = ksef_certs.load_credentials(test_cert.cert_pem, test_cert.key_pem, KEY_PASSWORD,
                                                  expected_type=ksef_certs.OFFLINE)
        self.config._l10n_pl_ksef_store_offline_certificate(credentials, "offline", test_cert.key_pem,
                                                            KEY_PASSWORD)
        move = self.make_invoice()
        self.walk(self.invoice_url(move), "l10n_pl_ksef_issue_offline_and_print")
        self.assertEqual((move.l10n_pl_ksef_state, move.l10n_pl_ksef_mode), ("queued", "offline24"))
        self.assertTrue(move.l10n_pl_ksef_deadline)
        codes = move._l10n_pl_ksef_qr_codes()
        self.assertEqual([(c["name"], c["label"]) for c in codes],
                         [("KOD I", "OFFLINE"), ("KOD II", "CERTYFIKAT")])
        self.assertTrue(ksef_qr.verify_certificate_url(codes[1]["url"], test_cert.cert_pem))

    # --- 5 and 6. purchase invoices: the journal's card, then a bill's visualisation --------
    def seed_purchase_invoices(self, count):
        """``count`` new invoices to the company in KSeF, after everything stored before."""
        emu = self.emulator
        cursor = self.env["l10n_pl_ksef.import.cursor"]._l10n_pl_ksef_get(self.company)
        # as tests/test_tours.py: start just after what earlier tests stored, a second apart
        with emu.lock:
            stored = [row.get("permanentStorageTs") or 0
                      for row in emu.state.table("invoices").values()]
        last = max(stored + [emu.hwm_fixed or 0, time.time() - 30]) + 0.001
        time.sleep(max(0.0, last + 1.0 - time.time()))
        since = emu.advance_hwm(last)
        cursor.write({"checkpoint": since.isoformat(), "boundary_numbers": False,
                      "next_run_after": False})
        emu.seed_incoming_invoices(TEST_NIP, count, lines=2, seed=911)
        emu.advance_hwm()
        return cursor

    def imported_bills(self):
        return self.env["account.move"].search([("company_id", "=", self.company.id),
                                                ("l10n_pl_ksef_imported", "=", True)])

    def test_import_from_the_purchase_journal_card(self):
        self.seed_purchase_invoices(3)
        self.walk("/odoo/action-account.open_account_journal_dashboard_kanban",
                  "l10n_pl_ksef_import_from_journal_card")
        bills = self.imported_bills()
        self.assertEqual(len(bills), 3)
        self.assertEqual(set(bills.mapped("state")), {"draft"})
        self.assertEqual(bills.journal_id.type, "purchase")

    def test_visualisation_of_an_imported_bill(self):
        cursor = self.seed_purchase_invoices(1)
        result = cursor._l10n_pl_ksef_run(trigger="manual")
        bill = self.imported_bills()
        self.assertEqual(len(bill), 1, result["message"])
        self.walk(self.invoice_url(bill, "account.action_move_in_invoice_type"),
                  "l10n_pl_ksef_bill_visualisation")


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefInvoiceToursPolish(TestKsefInvoiceTours):
    """The same paths for a Polish accountant in a Polish company."""

    LANG = "pl_PL"
    allow_inherited_tests_method = True     # Odoo's loader runs only a class's own methods

