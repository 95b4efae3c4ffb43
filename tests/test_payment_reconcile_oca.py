"""OCA account_reconcile_oca (when installed in the test Odoo): statement lines naming a KSeF
number or a collective identifier get the KSeF invoices as the proposal of its reconciliation
screen. Skipped, saying so, when the module is absent (l10n_pl_ksef does not depend on it)."""
from odoo.tests import tagged

from .test_payment_matching import KsefMatchingCommon


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefReconcileOca(KsefMatchingCommon):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        module = cls.env["ir.module.module"].search([("name", "=", "account_reconcile_oca")])
        cls.oca = module.state == "installed"

    def setUp(self):
        if not self.oca:
            self.skipTest("OCA account_reconcile_oca is not installed in this database: the "
                          "KSeF proposals of its reconciliation screen were not tested "
                          "(scripts/install_oca_test_modules.sh)")
        super().setUp()

    def proposed_moves(self, line):
        data = line.reconcile_data_info
        ids = [i for item in data["data"] if item.get("kind") == "other"
               for i in item.get("counterpart_line_ids") or []]
        return self.env["account.move.line"].browse(ids).move_id, data

    def test_proposal_by_ksef_number(self):
        move = self.accepted_invoice(150.0)
        line = self.statement_line("Zaplata %s" % move.l10n_pl_ksef_number, move.amount_total)
        moves, data = self.proposed_moves(line)
        self.assertEqual(moves, move)
        self.assertTrue(data.get("can_reconcile"))
        self.assertFalse(line.is_reconciled, "a proposal only: the user validates it")
        line.reconcile_bank_line()
        self.assertTrue(line.is_reconciled)
        self.assertEqual(move.payment_state, "paid")

    def test_proposal_by_collective_identifier(self):
        first, second = self.accepted_invoice(100.0), self.accepted_invoice(200.0)
        identifier = self.buyer_identifier([(first, first.amount_total),
                                            (second, second.amount_total)])
        line = self.statement_line(identifier, first.amount_total + second.amount_total)
        moves, data = self.proposed_moves(line)
        self.assertEqual(moves, first + second)
        self.assertTrue(data.get("can_reconcile"))
        line.reconcile_bank_line()
        self.assertTrue(line.is_reconciled)
        self.assertEqual(set((first + second).mapped("payment_state")), {"paid"})

    def test_partial_amounts_from_ksef(self):
        first, second = self.accepted_invoice(100.0), self.accepted_invoice(100.0)
        identifier = self.buyer_identifier([(first, 60.0), (second, 40.0)])
        line = self.statement_line(identifier, 100.0)
        _moves, data = self.proposed_moves(line)
        amounts = sorted(abs(item["amount"]) for item in data["data"] if item.get("kind") == "other")
        self.assertEqual(amounts, [40.0, 60.0])
        line.reconcile_bank_line()
        self.assertAlmostEqual(first.amount_residual, first.amount_total - 60.0)
        self.assertAlmostEqual(second.amount_residual, second.amount_total - 40.0)

    def test_bad_identifier_no_proposal(self):
        line = self.statement_line("1111111111-IZ202611-65ED02180000-00", 10.0)
        moves, _data = self.proposed_moves(line)
        self.assertFalse(moves)
