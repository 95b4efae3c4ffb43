"""Imported bills equal the FA(3): net per rate = P_13_x, VAT per rate = P_14_x (in PLN =
P_14_xW), amount due = P_15, whatever Odoo's own computation would give: sellers that round
the VAT per line, gross-priced lines only (P_9B / P_11A), foreign currency at the seller's rate,
negative corrections, and the ministry's sample whose P_15 is a grosz above net + VAT."""
from datetime import date, datetime, timezone
from decimal import Decimal as D

from odoo.addons.account.tests.common import AccountTestInvoicingCommon
from odoo.tests import tagged

from ..ksef.fa3 import (
    Address,
    Buyer,
    CorrectedInvoice,
    Correction,
    Invoice,
    InvoiceLine,
    Seller,
    Totals,
    build_invoice_xml,
)
from ..ksef.nip import make_nip
from .test_import_mapping import Document, sample
from .time_guard import KsefTimeGuard

BUYER_NIP = "1111111111"
SELLER_NIP = make_nip("526587763")


@tagged("post_install", "-at_install")
class TestKsefImportAmounts(KsefTimeGuard, AccountTestInvoicingCommon):

    @classmethod
    @AccountTestInvoicingCommon.setup_country("pl")
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.company_data["company"]
        cls.company.write({"vat": "PL" + BUYER_NIP, "country_id": cls.env.ref("base.pl").id,
                           "tax_calculation_rounding_method": "round_globally"})
        cls.Move = cls.env["account.move"].with_company(cls.company)
        cls.eur = cls.env.ref("base.EUR")
        cls.eur.active = True
        # Odoo's own rate differs from the seller's KursWaluty (4.2719)
        cls.env["res.currency.rate"].create({"name": "2026-02-01", "company_id": cls.company.id,
                                             "currency_id": cls.eur.id,
                                             "inverse_company_rate": 4.3001})
        cls.counter = 0

    # --- helpers ------------------------------------------------------------------------------
    def invoice(self, lines, totals, **kw):
        values = dict(
            number="FV/2026/%04d" % self.counter, issue_date=date(2026, 2, 15),
            created_at=datetime(2026, 2, 15, 9, 30, tzinfo=timezone.utc),
            seller=Seller(nip=SELLER_NIP, name="Dostawca Gamma sp. z o.o.",
                          address=Address("PL", "ul. Prosta 1", "00-001 Warszawa")),
            buyer=Buyer(nip=BUYER_NIP, name="Odbiorca sp. z o.o.",
                        address=Address("PL", "ul. Polna 1", "00-002 Warszawa")),
            lines=lines, totals=totals)
        values.update(kw)
        return Invoice(**values)

    def import_invoice(self, invoice):
        self.__class__.counter += 1
        number = "%s-20260215-%012X-01" % (SELLER_NIP, 0xABC000 + self.counter)
        xml = build_invoice_xml(invoice, checks=False)
        stats = self.Move._l10n_pl_ksef_import_documents(
            self.company, [Document(number, xml)], responsible=self.env.user)
        self.assertEqual(stats["created_count"], 1, stats)
        return self.Move.search([("l10n_pl_ksef_number", "=", number)])

    def assertEqualsInvoice(self, move, invoice):
        self.assertEqual(move.state, "draft")
        for _when in ("draft", "posted"):
            booked = move._l10n_pl_ksef_booked_by_bucket()
            mt = 1 if move.move_type == "in_invoice" else -1
            for bucket, (net, vat, vat_pln) in invoice.totals.by_bucket().items():
                self.assertEqual(booked[bucket][0], net, "net of rate %s" % bucket)
                if vat is not None:
                    self.assertEqual(booked[bucket][1], vat, "VAT of rate %s" % bucket)
                if vat_pln is not None:
                    self.assertEqual(booked[bucket][2], vat_pln, "VAT in PLN of rate %s" % bucket)
            self.assertEqual(D(repr(round(move.amount_total, 2))) * mt, invoice.totals.p_15)
            if move.state == "draft":
                move.action_post()          # the accountant confirms it as it is: nothing moves

    # --- cases --------------------------------------------------------------------------------
    def test_seller_rounding_vat_per_line(self):
        lines = [InvoiceLine(name="Śruba %d" % i, unit="szt.", quantity=D(1),
                             unit_price_net=D("0.34"), net_amount=D("0.34"), vat_rate="23")
                 for i in range(10)]
        # per line: 0.34 x 23 % = 0.0782 -> 0.08, ten times; Odoo: 3.40 x 23 % = 0.78
        totals = Totals(p_13_1=D("3.40"), p_14_1=D("0.80"), p_15=D("4.20"))
        move = self.import_invoice(self.invoice(lines, totals))
        self.assertIn("0.80", move.l10n_pl_ksef_import_warning)
        self.assertEqualsInvoice(move, self.invoice(lines, totals))

    def test_gross_priced_lines_only(self):
        lines = [InvoiceLine(name=name, unit="szt.", quantity=D(1), unit_price_gross=gross,
                             gross_amount=gross, vat_rate="23")
                 for name, gross in (("A", D("10.00")), ("B", D("20.00")), ("C", D("0.99")))]
        # 30.99 gross: VAT 30.99 x 23/123 = 5.79, net 25.20 (the lines alone give 25.19)
        totals = Totals(p_13_1=D("25.20"), p_14_1=D("5.79"), p_15=D("30.99"))
        inv = self.invoice(lines, totals)
        self.assertEqualsInvoice(self.import_invoice(inv), inv)

    def test_foreign_currency_vat_in_pln_of_the_invoice(self):
        lines = [InvoiceLine(name="Usługa", unit="h", quantity=D(1), unit_price_net=D("100.03"),
                             net_amount=D("100.03"), vat_rate="23", exchange_rate=D("4.2719"))]
        totals = Totals(p_13_1=D("100.03"), p_14_1=D("23.01"), p_14_1w=D("98.30"),
                        p_15=D("123.04"))
        inv = self.invoice(lines, totals, currency="EUR")
        move = self.import_invoice(inv)
        self.assertEqual(move.currency_id, self.eur)
        self.assertEqualsInvoice(move, inv)

    def test_negative_correction_becomes_refund_with_its_amounts(self):
        lines = [InvoiceLine(name="Zwrot %d" % i, unit="szt.", quantity=D(-1),
                             unit_price_net=D("0.34"), net_amount=D("-0.34"), vat_rate="23")
                 for i in range(10)] + [
                 InvoiceLine(name="Rabat", unit="szt.", quantity=D(1), unit_price_net=D("-1.15"),
                             net_amount=D("-1.15"), vat_rate="8")]
        totals = Totals(p_13_1=D("-3.40"), p_14_1=D("-0.80"), p_13_2=D("-1.15"),
                        p_14_2=D("-0.09"), p_15=D("-5.44"))
        inv = self.invoice(lines, totals, kind="KOR", correction=Correction(
            invoices=[CorrectedInvoice(date(2026, 2, 1), "FV/2026/0001",
                                       "%s-20260201-0000000ABCDE-00" % SELLER_NIP)],
            reason="Zwrot towaru", type=2))
        move = self.import_invoice(inv)
        self.assertEqual(move.move_type, "in_refund")
        self.assertEqualsInvoice(move, inv)

    def test_ministry_sample_amount_due_a_grosz_above(self):
        self.Move._l10n_pl_ksef_import_documents(
            self.company, [Document("9999999999-20260215-0000000ABC01-01", sample(1))],
            responsible=self.env.user)
        move = self.Move.search([("l10n_pl_ksef_number", "=", "9999999999-20260215-0000000ABC01-01")])
        booked = move._l10n_pl_ksef_booked_by_bucket()
        self.assertEqual((booked["1"][0], booked["1"][1]), (D("1666.66"), D("383.33")))
        self.assertEqual((booked["3"][0], booked["3"][1]), (D("0.95"), D("0.05")))
        self.assertAlmostEqual(move.amount_total, 2051.00)
        rounding = move.invoice_line_ids.filtered(lambda line: not line.tax_ids)
        self.assertAlmostEqual(rounding.price_subtotal, 0.01)
        self.assertIn("rounding line", move.l10n_pl_ksef_import_warning)

    def test_wrong_tax_is_not_forced(self):
        """A VAT far from Odoo's (a wrong rate, not rounding) is left for the accountant."""
        lines = [InvoiceLine(name="X", unit="szt.", quantity=D(1), unit_price_net=D("100.00"),
                             net_amount=D("100.00"), vat_rate="23")]
        totals = Totals(p_13_1=D("100.00"), p_14_1=D("8.00"), p_15=D("108.00"))
        move = self.import_invoice(self.invoice(lines, totals))
        self.assertAlmostEqual(move.amount_tax, 23.0)
        self.assertIn("more than rounding", move.l10n_pl_ksef_import_warning)
