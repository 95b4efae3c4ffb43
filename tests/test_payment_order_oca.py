"""OCA payment orders (account_payment_order + account_banking_sepa_credit_transfer, when
installed in the test Odoo): each transfer of the generated pain.001 file carries the KSeF
number, or the collective identifier of the bills it pays together, in RmtInf/Ustrd. Skipped,
saying so, when the modules are absent (l10n_pl_ksef does not depend on them)."""
import base64

from lxml import etree
from odoo import Command
from odoo.exceptions import UserError
from odoo.tests import tagged

from ..ksef import collective as ksef_collective
from .payment_common import KsefPaymentCommon

COLLECTIVE = "POST /collective-identifiers"


def iban(country, bban):
    """A valid IBAN for ``bban`` (ISO 13616 check digits)."""
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return "%s%02d%s" % (country, 98 - int(digits) % 97, bban)


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefPaymentOrder(KsefPaymentCommon):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        module = cls.env["ir.module.module"].search(
            [("name", "=", "account_banking_sepa_credit_transfer")])
        cls.oca = module.state == "installed"
        if not cls.oca:
            return
        cls.env.user.group_ids += cls.env.ref("account_payment_order.group_account_payment")
        cls.company.partner_id.write({"street": "ul. Prosta 1", "zip": "00-001",
                                      "city": "Warszawa", "country_id": cls.env.ref("base.pl").id})
        bank = cls.env["res.bank"].create({"name": "Bank Polski", "bic": "BPKOPLPWXXX",
                                           "country": cls.env.ref("base.pl").id})
        own = cls.env["res.partner.bank"].create({
            "acc_number": iban("PL", "1020105500000000000" + "12345"), "bank_id": bank.id,
            "partner_id": cls.company.partner_id.id, "company_id": cls.company.id})
        method = cls.env.ref("account_banking_sepa_credit_transfer.sepa_credit_transfer")
        cls.bank_journal.write({
            "bank_account_id": own.id,
            "outbound_payment_method_line_ids": [Command.create({"payment_method_id": method.id})],
        })
        cls.payment_mode = cls.env["account.payment.mode"].create({
            "name": "Przelewy do dostawców", "company_id": cls.company.id,
            "payment_method_id": method.id, "bank_account_link": "fixed",
            "fixed_journal_id": cls.bank_journal.id, "group_lines": True})
        cls.accounts = {}
        for index, partner in enumerate((cls.vendor, cls.vendor2)):
            cls.accounts[partner] = cls.env["res.partner.bank"].create({
                "acc_number": iban("PL", "1140200400000%011d" % (index + 1)), "bank_id": bank.id,
                "partner_id": partner.id, "allow_out_payment": True})

    def setUp(self):
        if not self.oca:
            self.skipTest("OCA account_payment_order / account_banking_sepa_credit_transfer are "
                          "not installed in this database: the KSeF remittance information of "
                          "payment orders was not tested (scripts/install_oca_test_modules.sh)")
        super().setUp()

    def order_bills(self, bills):
        for bill in bills:
            bill.write({"payment_mode_id": self.payment_mode.id,
                        "partner_bank_id": self.accounts[bill.partner_id].id})
        action = bills.create_account_payment_line()
        return self.env["account.payment.order"].browse(action["res_id"])

    def remittances(self, order):
        """{creditor IBAN: [Ustrd texts]} of the generated file."""
        action = order.open2generated()
        attachment = self.env["ir.attachment"].browse(action["res_id"])
        root = etree.fromstring(base64.b64decode(attachment.datas))
        ns = {"p": root.nsmap[None]}
        result = {}
        for tx in root.xpath("//p:CdtTrfTxInf", namespaces=ns):
            account = tx.xpath("p:CdtrAcct/p:Id/p:IBAN", namespaces=ns)[0].text
            result.setdefault(account, []).extend(
                node.text for node in tx.xpath("p:RmtInf/p:Ustrd", namespaces=ns))
        return result

    def test_one_bill_per_transfer_carries_its_ksef_number(self):
        bill = self.ksef_bills(self.vendor, 1)
        order = self.order_bills(bill)
        self.assertEqual(order.payment_line_ids.communication, bill.l10n_pl_ksef_number)
        order.draft2open()
        self.assertEqual(order.payment_ids.l10n_pl_ksef_memo_kind, "number")
        files = self.remittances(order)
        self.assertEqual(files[self.accounts[self.vendor].sanitized_acc_number],
                         [bill.l10n_pl_ksef_number])

    def test_grouped_transfer_carries_collective_identifier(self):
        bills_a = self.ksef_bills(self.vendor, 2, amount=300.0)
        bills_b = self.ksef_bills(self.vendor2, 1, amount=50.0)
        order = self.order_bills(bills_a + bills_b)
        self.emulator.reset_counters()
        order.draft2open()
        self.assertEqual(self.emulator.counters.get(COLLECTIVE), 1, "one per grouped transfer")
        payment_a = order.payment_ids.filtered(lambda p: p.partner_id == self.vendor)
        number = payment_a.l10n_pl_ksef_collective_number
        self.assertTrue(ksef_collective.is_valid_collective_identifier(number))
        self.assertEqual(payment_a.payment_reference, number)
        listed = self.ksef_client().collective_identifier_invoices(number)
        self.assertEqual({i.ksef_number for i in listed}, set(bills_a.mapped("l10n_pl_ksef_number")))
        self.assertEqual(sorted(float(i.amount) for i in listed), [300.0, 301.0])
        files = self.remittances(order)
        self.assertEqual(files[self.accounts[self.vendor].sanitized_acc_number], [number])
        self.assertEqual(files[self.accounts[self.vendor2].sanitized_acc_number],
                         [bills_b.l10n_pl_ksef_number])

    def test_refusal_leaves_the_order_unconfirmed(self):
        bills = self.ksef_bills(self.vendor, 2)
        order = self.order_bills(bills)
        self.emulator.set_unavailable(True)
        with self.assertRaises(UserError) as caught:
            with self.env.cr.savepoint():
                order.draft2open()
        self.assertIn("was not confirmed", caught.exception.args[0])
        self.assertIn("Group Transactions", caught.exception.args[0])
        self.assertEqual(order.state, "draft")
        self.assertFalse(order.payment_ids)
        # ungrouped: one transfer per bill, each with its KSeF number, no KSeF call needed
        self.emulator.set_unavailable(False)
        self.payment_mode.group_lines = False
        order.draft2open()
        self.assertEqual(sorted(order.payment_ids.mapped("payment_reference")),
                         sorted(bills.mapped("l10n_pl_ksef_number")))

    def test_bill_without_ksef_number_keeps_vendor_reference(self):
        bill = self.make_bill(self.vendor, 70, None, ref="AWARIA/9")
        order = self.order_bills(bill)
        order.draft2open()
        self.assertEqual(order.payment_ids.payment_reference, "AWARIA/9")
        self.assertEqual(order.payment_ids.l10n_pl_ksef_memo_kind, "exception")
        self.assertIn("issued outside KSeF", order.payment_ids.l10n_pl_ksef_memo_note)
