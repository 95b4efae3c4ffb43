"""Paying vendor bills with KSeF numbers (VAT act art. 108g), real Odoo 19 against the emulator."""
from decimal import Decimal

from odoo.tests import tagged

from ..ksef import collective as ksef_collective
from ..ksef.ksef_number import make_ksef_number
from ..models.ksef_payment_memo import TRANSFER_TITLE_LENGTH
from .payment_common import BILL_DATE, KsefPaymentCommon, nip_from

COLLECTIVE = "POST /collective-identifiers"


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefPayments(KsefPaymentCommon):

    # --- one bill ---------------------------------------------------------------------------
    def test_single_bill_memo_is_ksef_number(self):
        bill = self.ksef_bills(self.vendor, 1)
        wizard = self.register(bill)
        self.assertEqual(wizard.communication, bill.l10n_pl_ksef_number)
        self.emulator.reset_counters()
        _wizard, _action, payment = self.pay(bill)
        self.assertEqual(len(payment), 1)
        self.assertEqual(payment.memo, bill.l10n_pl_ksef_number)
        self.assertEqual(payment.l10n_pl_ksef_memo_kind, "number")
        self.assertEqual(payment.l10n_pl_ksef_numbers, bill.l10n_pl_ksef_number)
        self.assertFalse(payment.l10n_pl_ksef_collective_number)
        self.assertIn(bill.payment_state, ("paid", "in_payment"))
        self.assertFalse(self.emulator.counters.get(COLLECTIVE), "one bill needs no identifier")

    def test_single_bill_memo_with_vendor_number(self):
        self.config.payment_memo = "number_ref"
        bill = self.ksef_bills(self.vendor, 1)
        bill.ref = "FV/2026/11/0042"
        _wizard, _action, payment = self.pay(bill)
        self.assertEqual(payment.memo, "%s FV/2026/11/0042" % bill.l10n_pl_ksef_number)
        # a long vendor number is cut to the 140 characters of a transfer title, never the number
        bill2 = self.ksef_bills(self.vendor, 1)
        bill2.ref = "X" * 300
        _wizard, _action, payment2 = self.pay(bill2)
        self.assertEqual(len(payment2.memo), TRANSFER_TITLE_LENGTH)
        self.assertTrue(payment2.memo.startswith(bill2.l10n_pl_ksef_number + " XXX"))

    def test_user_memo_keeps_ksef_number(self):
        bill = self.ksef_bills(self.vendor, 1)
        wizard = self.register(bill)
        wizard.communication = "Zapłata za listopad"
        wizard.action_create_payments()
        payment = bill.matched_payment_ids
        self.assertEqual(payment.memo, "%s Zapłata za listopad" % bill.l10n_pl_ksef_number)

    # --- several bills of one vendor ----------------------------------------------------------
    def test_grouped_bills_get_collective_identifier(self):
        bills = self.ksef_bills(self.vendor, 3, amount=200.0)
        wizard = self.register(bills, group_payment=True)
        self.assertIn("collective identifier", wizard.l10n_pl_ksef_memo_info)
        self.emulator.reset_counters()
        _wizard, _action, payment = self.pay(bills, group_payment=True)
        self.assertEqual(self.emulator.counters.get(COLLECTIVE), 1)
        self.assertEqual(len(payment), 1)
        number = payment.l10n_pl_ksef_collective_number
        self.assertTrue(ksef_collective.is_valid_collective_identifier(number), number)
        self.assertEqual(payment.memo, number)
        self.assertEqual(payment.l10n_pl_ksef_memo_kind, "collective")
        record = payment.l10n_pl_ksef_collective_id
        self.assertEqual(record.direction, "outgoing")
        self.assertEqual(record.line_ids.move_id, bills)
        self.assertEqual(sorted(record.line_ids.mapped("amount")), [200.0, 201.0, 202.0])
        for bill in bills:
            self.assertIn(bill.payment_state, ("paid", "in_payment"))
        # KSeF keeps the invoices and the amounts paid
        listed = self.ksef_client().collective_identifier_invoices(number)
        self.assertEqual({i.ksef_number for i in listed}, set(bills.mapped("l10n_pl_ksef_number")))
        self.assertEqual(sorted(i.amount for i in listed),
                         [Decimal("200"), Decimal("201"), Decimal("202")])
        self.assertEqual({i.currency for i in listed}, {self.company.currency_id.name})
        # searchable, in the chatter
        found = self.env["account.payment"].search([("l10n_pl_ksef_collective_number", "=", number)])
        self.assertEqual(found, payment)
        self.assertTrue(any(number in (m.body or "") for m in payment.message_ids))

    def test_partial_grouped_payment_amounts(self):
        bills = self.ksef_bills(self.vendor, 2, amount=100.0)   # 100 + 101
        wizard = self.register(bills, group_payment=True)
        wizard.amount = 150.0
        wizard.payment_difference_handling = "open"
        wizard.action_create_payments()
        record = bills.matched_payment_ids.l10n_pl_ksef_collective_id
        amounts = {line.move_id: line.amount for line in record.line_ids}
        self.assertAlmostEqual(sum(amounts.values()), 150.0)
        self.assertEqual(sorted(amounts.values()), [50.0, 100.0])

    def test_several_vendors_one_identifier_each(self):
        bills_a = self.ksef_bills(self.vendor, 2)
        bills_b = self.ksef_bills(self.vendor2, 2)
        _wizard, _action, payments = self.pay(bills_a + bills_b, group_payment=True)
        self.assertEqual(len(payments), 2)
        self.assertEqual(len(set(payments.mapped("l10n_pl_ksef_collective_number"))), 2)
        client = self.ksef_client()
        for payment in payments:
            listed = client.collective_identifier_invoices(payment.l10n_pl_ksef_collective_number)
            sellers = {i.ksef_number[:10] for i in listed}
            self.assertEqual(len(sellers), 1, "one identifier groups the bills of one seller")
            self.assertEqual(payment.memo, payment.l10n_pl_ksef_collective_number)

    def test_one_partner_two_sellers_refused_then_paid_separately(self):
        # one vendor record holding bills of two sellers (e.g. merged contacts): by design KSeF
        # gives no identifier across sellers (71004); nothing is created, separate payments work
        bills = self.ksef_bills(self.vendor, 1) + self.ksef_bills(self.vendor, 1,
                                                                  seller_nip=self.vendor2_nip)
        self.emulator.reset_counters()
        wizard, action, payments = self.pay(bills, group_payment=True)
        self.assertFalse(payments)
        self.assertEqual(action["res_model"], "account.payment.register")
        self.assertEqual(action["res_id"], wizard.id)
        self.assertIn("different sellers", wizard.l10n_pl_ksef_error)
        self.assertIn("No payment was created", wizard.l10n_pl_ksef_error)
        self.assertFalse(self.emulator.counters.get(COLLECTIVE), "refused before sending")
        self.assertEqual(set(bills.mapped("payment_state")), {"not_paid"})
        before = self.env["account.payment"].search([])
        wizard.action_l10n_pl_ksef_pay_separately()
        payments = self.env["account.payment"].search([]) - before
        self.assertEqual(len(payments), 2)
        self.assertEqual(sorted(payments.mapped("memo")), sorted(bills.mapped("l10n_pl_ksef_number")))
        self.assertEqual(set(payments.mapped("l10n_pl_ksef_memo_kind")), {"number"})

    # --- KSeF says no, or cannot be reached ----------------------------------------------------
    def assertNothingCreated(self, bills, wizard, payments, *fragments):
        self.assertFalse(payments)
        self.assertEqual(set(bills.mapped("payment_state")), {"not_paid"})
        self.assertFalse(self.env["l10n_pl_ksef.collective"].search([]))
        for fragment in fragments:
            self.assertIn(fragment, wizard.l10n_pl_ksef_error)

    def test_ksef_refusal_unknown_invoice(self):
        numbers = [make_ksef_number(self.vendor_nip, BILL_DATE, "%012X" % (0xABC000 + i))
                   for i in range(2)]
        bills = self.make_bill(self.vendor, 10, numbers[0]) + self.make_bill(self.vendor, 20, numbers[1])
        wizard, _action, payments = self.pay(bills, group_payment=True)
        self.assertNothingCreated(bills, wizard, payments, "KSeF refused", numbers[0],
                                  "Pay the bills separately")

    def test_ksef_rate_limited(self):
        bills = self.ksef_bills(self.vendor, 2)
        self.emulator.faults.add("http429", path="/collective-identifiers", method="POST",
                                 count=None, retry_after=30)
        wizard, _action, payments = self.pay(bills, group_payment=True)
        self.assertNothingCreated(bills, wizard, payments, "limiting requests", "30")

    def test_ksef_unreachable(self):
        bills = self.ksef_bills(self.vendor, 2)
        self.company._l10n_pl_ksef_get_client()   # logged in: only the identifier call fails
        self.emulator.set_unavailable(True)
        wizard, _action, payments = self.pay(bills, group_payment=True)
        self.assertNothingCreated(bills, wizard, payments, "could not be reached")
        # KSeF is back: the same wizard pays with an identifier
        self.emulator.set_unavailable(False)
        wizard.l10n_pl_ksef_error = False
        wizard.action_create_payments()
        self.assertTrue(bills.matched_payment_ids.l10n_pl_ksef_collective_number)

    def test_not_connected(self):
        bills = self.ksef_bills(self.vendor, 2)
        self.config.sudo().write({"state": "not_connected", "auth_method": False})
        wizard, _action, payments = self.pay(bills, group_payment=True)
        self.assertNothingCreated(bills, wizard, payments, "not connected to KSeF")

    # --- the act's exceptions --------------------------------------------------------------------
    def test_exceptions_keep_odoo_memo_and_say_why(self):
        cases = [
            (self.foreign_vendor, None, "foreign seller"),
            (self.person, None, "has no NIP"),
            (self.vendor, None, "issued outside KSeF"),
        ]
        for partner, number, why in cases:
            with self.subTest(partner=partner.name):
                bill = self.make_bill(partner, 50, number, ref="EXT/%s" % partner.id)
                _wizard, _action, payment = self.pay(bill)
                self.assertEqual(payment.memo, "EXT/%s" % partner.id)
                self.assertEqual(payment.l10n_pl_ksef_memo_kind, "exception")
                self.assertIn(why, payment.l10n_pl_ksef_memo_note)

    def test_vat_exempt_seller(self):
        exempt = self.vendor.copy({"name": "Mały Sklep", "vat": "PL" + nip_from(777000333),
                                   "l10n_pl_ksef_vat_exempt": True})
        bills = self.ksef_bills(exempt, 2)
        self.emulator.reset_counters()
        _wizard, _action, payment = self.pay(bills, group_payment=True)
        self.assertEqual(len(payment), 1)
        self.assertFalse(payment.l10n_pl_ksef_collective_number)
        self.assertEqual(payment.l10n_pl_ksef_memo_kind, "exception")
        self.assertIn("VAT-exempt", payment.l10n_pl_ksef_memo_note)
        self.assertFalse(self.emulator.counters.get(COLLECTIVE))

    def test_mixed_bills_identifier_for_the_ksef_ones(self):
        ksef = self.ksef_bills(self.vendor, 2)
        outside = self.make_bill(self.vendor, 30, None, ref="AWARIA/7")
        _wizard, _action, payment = self.pay(ksef + outside, group_payment=True)
        number = payment.l10n_pl_ksef_collective_number
        self.assertEqual(payment.l10n_pl_ksef_collective_id.line_ids.move_id, ksef)
        self.assertEqual(payment.memo, "%s AWARIA/7" % number)
        self.assertIn(outside.display_name, payment.l10n_pl_ksef_memo_note)

    def test_one_ksef_bill_with_one_outside(self):
        ksef = self.ksef_bills(self.vendor, 1)
        outside = self.make_bill(self.vendor, 30, None, ref="AWARIA/8")
        _wizard, _action, payment = self.pay(ksef + outside, group_payment=True)
        self.assertEqual(payment.memo, "%s AWARIA/8" % ksef.l10n_pl_ksef_number)
        self.assertEqual(payment.l10n_pl_ksef_memo_kind, "number")

    def test_customer_payments_untouched(self):
        invoice = self.env["account.move"].create({
            "move_type": "out_invoice", "partner_id": self.vendor.id, "invoice_date": BILL_DATE,
            "invoice_line_ids": [(0, 0, {"name": "x", "price_unit": 10, "tax_ids": [(5,)]})]})
        invoice.action_post()
        _wizard, _action, payment = self.pay(invoice)
        self.assertFalse(payment.l10n_pl_ksef_memo_kind)
        self.assertEqual(payment.memo, invoice.payment_reference or invoice.name)


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefPaymentsPolish(KsefPaymentCommon):
    """The payment messages in Polish (i18n/pl.po)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["res.lang"]._activate_lang("pl_PL")
        cls.env["ir.module.module"]._load_module_terms(["l10n_pl_ksef"], ["pl_PL"])

    def test_refusal_and_exception_in_polish(self):
        bills = self.ksef_bills(self.vendor, 1) + self.ksef_bills(self.vendor, 1,
                                                                  seller_nip=self.vendor2_nip)
        wizard = self.register(bills, group_payment=True).with_context(lang="pl_PL")
        wizard.action_create_payments()
        self.assertIn("Nie utworzono żadnej płatności", wizard.l10n_pl_ksef_error)
        self.assertIn("różni sprzedawcy", wizard.l10n_pl_ksef_error)
        bill = self.make_bill(self.foreign_vendor, 10, None)
        wizard = self.register(bill).with_context(lang="pl_PL")
        wizard.action_create_payments()
        self.assertIn("sprzedawcą zagranicznym", bill.matched_payment_ids.l10n_pl_ksef_memo_note)
