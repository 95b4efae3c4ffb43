"""Down payments (sale): advance invoice -> FA(3) ZAL, final invoice -> ROZ referencing it.

Runs only when the ``sale`` module is installed (scripts/odoo_tests.sh installs it).
"""
import os
import unittest
from decimal import Decimal

from lxml import etree
from odoo import Command
from odoo.tests import tagged

from ..ksef.fa3.builder import build_invoice_xml
from ..ksef.ksef_number import is_valid_ksef_number
from .common import schema_dir
from .send_common import _NUMBERS, INVOICE_DATE, KsefSendCommon

NS = {"fa": "http://crd.gov.pl/wzor/2025/06/25/13775/"}


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefSendDownpayment(KsefSendCommon):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if cls.env["ir.module.module"]._get("sale").state != "installed":
            raise unittest.SkipTest("the 'sale' module is not installed: down payments (ZAL/ROZ) "
                                    "come from sale orders; install sale to run these tests")
        cls.env.user.group_ids += cls.env.ref("sales_team.group_sale_manager")
        cls.sale_product = cls.env["product.product"].create({
            "name": "Maszyna", "default_code": "M-1", "lst_price": 1000.0, "type": "consu",
            "invoice_policy": "order", "taxes_id": [Command.set(cls.tax["23"].ids)]})

    def setUp(self):
        super().setUp()
        self.emulator.faults.clear()
        self.emulator.set_unavailable(False)
        self.connect_token()

    # --- helpers -----------------------------------------------------------
    def make_order(self):
        order = self.env["sale.order"].create({
            "partner_id": self.buyer.id,
            "company_id": self.company.id,
            "order_line": [Command.create({
                "product_id": self.sale_product.id, "name": "Maszyna M-1",
                "product_uom_qty": 2, "price_unit": 1000.0,
                "tax_ids": [Command.set(self.tax["23"].ids)]})],
        })
        order.action_confirm()
        return order

    def invoice_order(self, order, **vals):
        wizard = self.env["sale.advance.payment.inv"].with_context(
            active_model="sale.order", active_ids=order.ids).create(vals)
        wizard.create_invoices()
        moves = order.invoice_ids.filtered(lambda m: m.state == "draft")
        self.assertEqual(len(moves), 1)
        moves.write({"invoice_date": INVOICE_DATE, "date": INVOICE_DATE})
        moves.name = "FV/2026/D%05d" % next(_NUMBERS)
        moves.action_post()
        return moves

    def xml_of(self, move):
        if not schema_dir():
            self.skipTest("shared/ksef/schemas/FA is not beside the repository (no XSD to validate)")
        self.assertTrue(os.environ.get("KSEF_SCHEMA_DIR"))
        invoice = move._l10n_pl_ksef_prepare_fa3_invoice()
        self.assertEqual(invoice.kind, move._l10n_pl_ksef_kind())
        xml = build_invoice_xml(invoice, validate=True)  # XSD of shared/ via KSEF_SCHEMA_DIR
        return invoice, xml, etree.fromstring(xml)

    def text(self, root, path):
        return root.xpath("string(%s)" % path, namespaces=NS)

    # --- tests -----------------------------------------------------------------
    def test_advance_then_final(self):
        order = self.make_order()
        self.assertEqual(order.amount_total, 2460.0)

        # 1. advance invoice: 30 % of the order
        advance = self.invoice_order(order, advance_payment_method="percentage", amount=30)
        self.assertTrue(advance._is_downpayment())
        self.assertEqual(advance.amount_total, 738.0)
        invoice, xml, root = self.xml_of(advance)
        self.assertEqual(self.text(root, "//fa:Fa/fa:RodzajFaktury"), "ZAL")
        self.assertEqual(self.text(root, "//fa:Fa/fa:P_15"), "738.00")
        self.assertEqual(self.text(root, "//fa:Fa/fa:P_13_1"), "600.00")
        self.assertEqual(self.text(root, "//fa:Fa/fa:P_14_1"), "138.00")
        self.assertFalse(root.xpath("//fa:FaWiersz", namespaces=NS))
        self.assertEqual(self.text(root, "//fa:Zamowienie/fa:WartoscZamowienia"), "2460.00")
        rows = root.xpath("//fa:Zamowienie/fa:ZamowienieWiersz", namespaces=NS)
        self.assertEqual(len(rows), 1)
        self.assertEqual(self.text(rows[0], "fa:P_7Z"), "Maszyna M-1")
        self.assertEqual(Decimal(self.text(rows[0], "fa:P_8BZ")), 2)
        self.assertEqual(Decimal(self.text(rows[0], "fa:P_9AZ")), 1000)
        self.assertEqual(self.text(rows[0], "fa:P_11NettoZ"), "2000.00")
        self.assertEqual(self.text(rows[0], "fa:P_11VatZ"), "460.00")
        self.assertEqual(self.text(rows[0], "fa:P_12Z"), "23")
        self.assertEqual(invoice.order.total, Decimal("2460.00"))

        # sent to KSeF (emulator): it gets a KSeF number
        advance.action_l10n_pl_ksef_send()
        self.assertEqual(advance.l10n_pl_ksef_state, "accepted", advance.l10n_pl_ksef_message)
        self.assertTrue(is_valid_ksef_number(advance.l10n_pl_ksef_number))

        # 2. final invoice deducting the advance: ROZ referencing the advance's KSeF number
        final = self.invoice_order(order, advance_payment_method="delivered")
        self.assertNotEqual(final, advance)
        self.assertEqual(final.amount_total, 2460.0 - 738.0)
        invoice, xml, root = self.xml_of(final)
        self.assertEqual(self.text(root, "//fa:Fa/fa:RodzajFaktury"), "ROZ")
        self.assertEqual(self.text(root, "//fa:FakturaZaliczkowa/fa:NrKSeFFaZaliczkowej"),
                         advance.l10n_pl_ksef_number)
        self.assertEqual(len(root.xpath("//fa:FakturaZaliczkowa", namespaces=NS)), 1)
        self.assertEqual(self.text(root, "//fa:Fa/fa:P_15"), "1722.00")
        # the deduction line is not a FaWiersz; the delivered goods are
        lines = root.xpath("//fa:FaWiersz", namespaces=NS)
        self.assertEqual(len(lines), 1)
        self.assertEqual(self.text(lines[0], "fa:P_11"), "2000.00")

        final.action_l10n_pl_ksef_send()
        self.assertEqual(final.l10n_pl_ksef_state, "accepted", final.l10n_pl_ksef_message)
        self.assertTrue(is_valid_ksef_number(final.l10n_pl_ksef_number))

    def test_fixed_advance(self):
        order = self.make_order()
        advance = self.invoice_order(order, advance_payment_method="fixed", fixed_amount=1230.0)
        self.assertEqual(advance.amount_total, 1230.0)
        _invoice, _xml, root = self.xml_of(advance)
        self.assertEqual(self.text(root, "//fa:Fa/fa:RodzajFaktury"), "ZAL")
        self.assertEqual(self.text(root, "//fa:Fa/fa:P_15"), "1230.00")
        self.assertEqual(self.text(root, "//fa:Zamowienie/fa:WartoscZamowienia"), "2460.00")
