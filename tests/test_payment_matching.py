"""Receiving payments: our accepted invoices carry their KSeF number as payment reference, and
bank statement lines naming a KSeF number or a collective identifier are matched with the
invoices (Community: the statement line's own action), against the emulator."""
import secrets
from datetime import date

from odoo.exceptions import UserError
from odoo.tests import tagged

from ..ksef import collective as ksef_collective
from .common import OTHER_NIP
from .send_common import KsefSendCommon

INVOICES_OF = "POST /collective-identifiers/invoices"


class KsefMatchingCommon(KsefSendCommon):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["ir.config_parameter"].sudo().set_param("l10n_pl_ksef.timeout", "5")
        cls.bank_journal = cls.company_data["default_journal_bank"]

    def setUp(self):
        super().setUp()
        self.addCleanup(self.emulator.faults.clear)
        self.addCleanup(self.emulator.set_unavailable, False)
        self.connect_token()

    def accepted_invoice(self, price=100.0):
        move = self.make_invoice(lines=[(price, 1, "23")])
        move.action_l10n_pl_ksef_send()
        self.assertEqual(move.l10n_pl_ksef_state, "accepted", move.l10n_pl_ksef_message)
        return move

    def buyer_client(self):
        """The buyer's own KSeF session (it pays our invoices and asks for the identifier)."""
        client = self.config._l10n_pl_ksef_new_client()
        client.authenticate_with_token(OTHER_NIP, self.emulator.make_ksef_token(OTHER_NIP))
        return client

    def buyer_identifier(self, paid, client=None):
        """``paid``: [(invoice, amount)] -> a collective identifier made by the buyer."""
        client = client or self.buyer_client()
        return client.generate_collective_identifier([
            {"ksef_number": move.l10n_pl_ksef_number, "amount": amount,
             "currency": move.currency_id.name} for move, amount in paid])

    def statement_line(self, label, amount):
        return self.env["account.bank.statement.line"].create({
            "journal_id": self.bank_journal.id, "date": date(2026, 11, 20),
            "payment_ref": label, "amount": amount})


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefPaymentMatching(KsefMatchingCommon):

    # --- our invoices: the KSeF number as payment reference ----------------------------------
    def test_accepted_invoice_payment_reference(self):
        move = self.accepted_invoice()
        self.assertEqual(move.payment_reference, move.l10n_pl_ksef_number)
        html = self.env["ir.actions.report"]._render_qweb_html(
            "account.account_invoices", move.ids)[0].decode()
        self.assertIn("Payment Communication", html)
        self.assertIn(move.l10n_pl_ksef_number, html)

    def test_payment_reference_optional(self):
        self.config.invoice_payment_reference = False
        move = self.accepted_invoice()
        self.assertNotEqual(move.payment_reference, move.l10n_pl_ksef_number)

    # --- statement lines ---------------------------------------------------------------------
    def test_match_by_ksef_number(self):
        move = self.accepted_invoice(200.0)
        line = self.statement_line("Przelew za fakture %s dziekuje" % move.l10n_pl_ksef_number.lower(),
                                   move.amount_total)
        action = line.action_l10n_pl_ksef_match()
        self.assertEqual(action["params"]["type"], "success", action["params"]["message"])
        self.assertTrue(line.is_reconciled)
        self.assertEqual(move.payment_state, "paid")
        self.assertEqual(line.partner_id, self.buyer)

    def test_match_by_collective_identifier(self):
        first, second = self.accepted_invoice(100.0), self.accepted_invoice(300.0)
        identifier = self.buyer_identifier([(first, first.amount_total), (second, 100.0)])
        line = self.statement_line("Platnosc %s" % identifier, first.amount_total + 100.0)
        self.emulator.reset_counters()
        line.action_l10n_pl_ksef_match()
        self.assertEqual(self.emulator.counters.get(INVOICES_OF), 1)
        self.assertTrue(line.is_reconciled, line.l10n_pl_ksef_match_note)
        self.assertEqual(first.payment_state, "paid")
        self.assertEqual(second.payment_state, "partial")
        self.assertAlmostEqual(second.amount_residual, second.amount_total - 100.0)
        record = self.env["l10n_pl_ksef.collective"].search([("name", "=", identifier)])
        self.assertEqual(record.direction, "incoming")
        self.assertEqual(record.line_ids.move_id, first + second)

    def test_identifier_amount_below_statement_leaves_rest_open(self):
        first, second = self.accepted_invoice(100.0), self.accepted_invoice(100.0)
        identifier = self.buyer_identifier([(first, 50.0), (second, 50.0)])
        line = self.statement_line(identifier, 130.0)
        line.action_l10n_pl_ksef_match()
        self.assertFalse(line.is_reconciled, "30.00 stays on the suspense account")
        self.assertEqual(set((first + second).mapped("payment_state")), {"partial"})

    def test_bad_identifier_checksum(self):
        move = self.accepted_invoice()
        identifier = self.buyer_identifier([(move, 10.0), (self.accepted_invoice(), 10.0)])
        broken = identifier[:-2] + ("00" if identifier[-2:] != "00" else "11")
        line = self.statement_line("Zaplata %s" % broken, 20.0)
        self.emulator.reset_counters()
        action = line.action_l10n_pl_ksef_match()
        self.assertFalse(self.emulator.counters.get(INVOICES_OF), "never sent to KSeF")
        self.assertIn("wrong checksum", line.l10n_pl_ksef_match_note)
        self.assertEqual(action["params"]["type"], "warning")
        self.assertFalse(line.is_reconciled)

    def test_unknown_identifier(self):
        unknown = ksef_collective.make_collective_identifier(OTHER_NIP, date(2026, 11, 1),
                                                             secrets.token_hex(6))
        line = self.statement_line(unknown, 20.0)
        line.action_l10n_pl_ksef_match()
        self.assertIn("KSeF knows no invoices", line.l10n_pl_ksef_match_note)
        self.assertFalse(line.is_reconciled)

    def test_more_than_ten_identifiers_in_one_query(self):
        first, second = self.accepted_invoice(100.0), self.accepted_invoice(100.0)
        client = self.buyer_client()
        identifiers = [self.buyer_identifier([(first, 1.0), (second, 2.0)], client)
                       for _i in range(11)]
        lines = self.env["account.bank.statement.line"].concat(*[
            self.statement_line("IZ %s" % identifier, 3.0) for identifier in identifiers])
        self.emulator.reset_counters()
        lines.action_l10n_pl_ksef_match()
        self.assertEqual(self.emulator.counters.get(INVOICES_OF), 2, "10 + 1 identifiers")
        self.assertTrue(all(lines.mapped("is_reconciled")), lines.mapped("l10n_pl_ksef_match_note"))
        self.assertAlmostEqual(first.amount_residual, first.amount_total - 11.0)
        self.assertAlmostEqual(second.amount_residual, second.amount_total - 22.0)
        # resolved once: matching again asks KSeF nothing
        self.assertEqual(self.env["l10n_pl_ksef.collective"].search_count(
            [("name", "in", identifiers)]), 11)

    def test_ksef_unreachable_when_resolving(self):
        identifier = self.buyer_identifier([(self.accepted_invoice(), 10.0),
                                            (self.accepted_invoice(), 10.0)])
        line = self.statement_line(identifier, 20.0)
        self.emulator.set_unavailable(True)
        line.action_l10n_pl_ksef_match()
        self.assertIn("KSeF could not be asked", line.l10n_pl_ksef_match_note)
        self.assertFalse(line.is_reconciled)

    def test_invoicing_only_user_is_told_what_right_is_missing(self):
        move = self.accepted_invoice(120.0)
        line = self.statement_line("Zaplata %s" % move.l10n_pl_ksef_number, move.amount_total)
        menu = self.env.ref("l10n_pl_ksef.menu_bank_statement_line_l10n_pl_ksef")
        self.assertNotIn(menu.id, self.env["ir.ui.menu"].with_user(self.accountant)._visible_menu_ids())
        with self.assertRaises(UserError) as caught:
            line.with_user(self.accountant).action_l10n_pl_ksef_match()
        self.assertIn("Reconciling bank statement lines needs", str(caught.exception))
        self.assertFalse(line.is_reconciled)

    def test_label_without_reference(self):
        line = self.statement_line("Wplata wlasna", 50.0)
        action = line.action_l10n_pl_ksef_match()
        self.assertIn("no KSeF number", line.l10n_pl_ksef_match_note)
        self.assertEqual(action["params"]["type"], "warning")

    def test_vendor_bill_paid_by_our_transfer(self):
        # our own outgoing transfer, titled with the vendor's KSeF number, settles the bill
        numbers = self.emulator.seed_incoming_invoices(self.company.vat[2:], 1,
                                                       sellers=[OTHER_NIP])
        bill = self.env["account.move"].create({
            "move_type": "in_invoice", "partner_id": self.buyer.id, "invoice_date": date(2026, 11, 2),
            "l10n_pl_ksef_number": numbers[0],
            "invoice_line_ids": [(0, 0, {"name": "x", "price_unit": 80.0, "tax_ids": [(5,)]})]})
        bill.action_post()
        line = self.statement_line(numbers[0], -80.0)
        line.action_l10n_pl_ksef_match()
        self.assertTrue(line.is_reconciled, line.l10n_pl_ksef_match_note)
        self.assertEqual(bill.payment_state, "paid")
