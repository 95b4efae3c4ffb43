"""User paths walked in a real browser (Odoo tours, headless Chromium).

Each tour is a path README.md describes; the tour clicks what a user clicks and checks what
the user sees. The steps are in static/tests/tours/l10n_pl_ksef_tours.js."""
import time
from unittest.mock import patch

from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tests import common as odoo_test_common

from .common import TEST_NIP, KsefTestCommon
from .payment_common import KsefPaymentCommon
from .send_common import KsefSendCommon
from .test_payment_matching import KsefMatchingCommon
from .time_guard import KsefTimeGuard


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefTours(KsefTestCommon, HttpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Odoo skips (does not fail) a tour whose Chromium has not opened its devtools port
        # within 10 s; a cold start on a busy 2-core machine can take longer. Wait up to 60 s:
        # a skipped tour proves nothing (scripts/odoo_tests.sh fails the run on one)
        cls.startClassPatcher(patch.object(odoo_test_common, "CHECK_BROWSER_ITERATIONS", 600))

    def config_url(self):
        action = self.env.ref("l10n_pl_ksef.l10n_pl_ksef_config_action")
        return "/odoo/action-%s/%s" % (action.id, self.config.id)

    def test_connect_with_the_local_emulator(self):
        self.assertEqual(self.config.state, "not_connected")
        self.start_tour(self.config_url(), "l10n_pl_ksef_connect_emulator",
                        login=self.manager.login)
        self.config.invalidate_recordset()
        self.assertEqual((self.config.state, self.config.environment), ("connected", "emulator"))

    def test_import_from_the_bills_list(self):
        self.connect_token()
        emu = self.emulator
        cursor = self.env["l10n_pl_ksef.import.cursor"]._l10n_pl_ksef_get(self.company)
        # start just after everything earlier tests stored (as ImportEmulatorCase does): the
        # seeding spreads the new invoices between the HWM and now, so leave a second between
        with emu.lock:
            stored = [row.get("permanentStorageTs") or 0
                      for row in emu.state.table("invoices").values()]
        last = max(stored + [emu.hwm_fixed or 0, time.time() - 30]) + 0.001
        time.sleep(max(0.0, last + 1.0 - time.time()))
        since = emu.advance_hwm(last)
        cursor.write({"checkpoint": since.isoformat(), "boundary_numbers": False,
                      "next_run_after": False})
        emu.seed_incoming_invoices(TEST_NIP, 3, lines=1, seed=901)
        emu.advance_hwm()
        action = self.env.ref("account.action_move_in_invoice_type")
        self.start_tour("/odoo/action-%s" % action.id, "l10n_pl_ksef_import_from_bills_list",
                        login=self.accountant.login)
        bills = self.env["account.move"].search([("company_id", "=", self.company.id),
                                                 ("l10n_pl_ksef_imported", "=", True)])
        self.assertEqual(len(bills), 3)


class KsefTourMixin(KsefTimeGuard, HttpCase):
    """Odoo skips a tour whose Chromium is slow to start; wait up to 60 s (see TestKsefTours)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.startClassPatcher(patch.object(odoo_test_common, "CHECK_BROWSER_ITERATIONS", 600))


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefPaymentTours(KsefPaymentCommon, KsefTourMixin):
    """Register Payment on KSeF bills (VAT act art. 108g), as the accountant does it."""

    def bills_url(self, bill=None):
        action = self.env.ref("account.action_move_in_invoice_type")
        return "/odoo/action-%s%s" % (action.id, "/%s" % bill.id if bill else "")

    def test_pay_one_bill_memo_is_ksef_number(self):
        self.assertTrue(self.vendor_nip.startswith("7770001111"))   # the tour looks for it
        bill = self.ksef_bills(self.vendor, 1)
        self.start_tour(self.bills_url(bill), "l10n_pl_ksef_pay_one_bill",
                        login=self.accountant.login)
        payment = bill.matched_payment_ids
        self.assertEqual(len(payment), 1)
        self.assertEqual(payment.memo, bill.l10n_pl_ksef_number)
        self.assertEqual(payment.l10n_pl_ksef_memo_kind, "number")

    def test_pay_bills_grouped_with_collective_identifier(self):
        bills = self.ksef_bills(self.vendor2, 2, amount=300.0)
        self.start_tour(self.bills_url(), "l10n_pl_ksef_pay_bills_grouped",
                        login=self.accountant.login)
        payment = bills.matched_payment_ids
        self.assertEqual(len(payment), 1)
        number = payment.l10n_pl_ksef_collective_number
        self.assertTrue(number)
        self.assertEqual(payment.memo, number)
        listed = self.ksef_client().collective_identifier_invoices(number)
        self.assertEqual({i.ksef_number for i in listed}, set(bills.mapped("l10n_pl_ksef_number")))

    def test_pay_bills_refused_then_separately(self):
        # one vendor record with bills of two sellers: KSeF gives no identifier across sellers
        bills = self.ksef_bills(self.vendor, 1) + self.ksef_bills(self.vendor, 1,
                                                                  seller_nip=self.vendor2_nip)
        self.start_tour(self.bills_url(), "l10n_pl_ksef_pay_bills_refused_then_separately",
                        login=self.accountant.login)
        payments = bills.matched_payment_ids
        self.assertEqual(len(payments), 2)
        self.assertEqual(sorted(payments.mapped("memo")), sorted(bills.mapped("l10n_pl_ksef_number")))
        self.assertFalse(self.env["l10n_pl_ksef.collective"].search([]))


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefMatchingTour(KsefMatchingCommon, KsefTourMixin):

    LANG = "en_US"

    def test_match_statement_line_by_ksef_number(self):
        # reconciling needs Odoo's right to modify statement lines (group "Basic" and above)
        bookkeeper = new_test_user(
            self.env, login="ksef_bookkeeper",
            groups="account.group_account_basic,l10n_pl_ksef.group_ksef_user",
            company_id=self.company.id, company_ids=[(6, 0, self.company.ids)])
        bookkeeper.lang = self.LANG
        move = self.accepted_invoice(250.0)
        line = self.statement_line("Przelew za fakture %s" % move.l10n_pl_ksef_number,
                                   move.amount_total)
        action = self.env.ref("l10n_pl_ksef.action_bank_statement_line_l10n_pl_ksef")
        self.start_tour("/odoo/action-%s" % action.id, "l10n_pl_ksef_match_statement_line",
                        login=bookkeeper.login)
        self.assertTrue(line.is_reconciled)
        self.assertEqual(move.payment_state, "paid")


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefSendTour(KsefSendCommon, KsefTourMixin):

    def test_send_from_the_invoice_button(self):
        self.assertEqual(TEST_NIP, "5265877635")          # the tour looks for it
        self.connect_token()
        move = self.make_invoice()
        self.assertEqual(move.l10n_pl_ksef_status, "not_sent")
        action = self.env.ref("account.action_move_out_invoice_type")
        self.start_tour("/odoo/action-%s/%s" % (action.id, move.id),
                        "l10n_pl_ksef_send_invoice_button", login=self.accountant.login)
        self.assertEqual(move.l10n_pl_ksef_state, "accepted", move.l10n_pl_ksef_message)
        self.assertEqual(move.l10n_pl_ksef_status, "accepted")


def install_polish(env):
    """Polish as Odoo installs it when a user activates it (Settings > Languages): the language
    and the Polish of every installed module, Odoo's own (view labels, menus) and this addon's."""
    env["res.lang"]._activate_lang("pl_PL")
    env["ir.module.module"].search([("state", "=", "installed")])._update_translations(["pl_PL"])


def speak_polish(cls):
    """The users and the company of ``cls`` work in Polish, installed as Odoo installs it."""
    install_polish(cls.env)
    (cls.accountant | cls.manager | cls.env.ref("base.user_admin")).lang = "pl_PL"
    cls.company.partner_id.lang = "pl_PL"


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefToursPolish(TestKsefTours):
    """The bills list's import for a Polish accountant (the tour reads Polish)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        speak_polish(cls)

    def test_import_from_the_bills_list_in_polish(self):
        self.test_import_from_the_bills_list()


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefSendTourPolish(TestKsefSendTour):
    """The invoice's Send button for a Polish accountant (the tour reads Polish)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        speak_polish(cls)

    def test_send_from_the_invoice_button_in_polish(self):
        self.test_send_from_the_invoice_button()


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefPaymentToursPolish(TestKsefPaymentTours):
    """Paying KSeF bills for a Polish accountant (the tours read Polish, Odoo's labels too)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        speak_polish(cls)

    def test_pay_one_bill_memo_is_ksef_number_in_polish(self):
        self.test_pay_one_bill_memo_is_ksef_number()

    def test_pay_bills_grouped_with_collective_identifier_in_polish(self):
        self.test_pay_bills_grouped_with_collective_identifier()

    def test_pay_bills_refused_then_separately_in_polish(self):
        self.test_pay_bills_refused_then_separately()


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefMatchingTourPolish(TestKsefMatchingTour):
    """Matching a statement line for a Polish bookkeeper (the tour reads Polish)."""

    LANG = "pl_PL"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        install_polish(cls.env)

    def test_match_statement_line_by_ksef_number_in_polish(self):
        self.test_match_statement_line_by_ksef_number()
