"""FA(3) amounts are exact: every total consistent with the lines to the grosz, and equal to
what Odoo booked, for PLN, EUR and USD invoices (rates with 4 decimals), many lines with
half-grosz prices, discounts, price-included taxes, credit notes, and both of Odoo's tax
rounding methods.

The rules (ministry's FA(3) brochure; VAT act art. 106e):
* P_11 of a line is its net value as booked; P_13_x is the exact sum of its lines' P_11;
* P_14_x is the VAT booked for the rate (per line or on the total, as the company rounds);
* P_14_xW is P_14_x at the invoice's KursWaluty, rounded half-up to the grosz, and Odoo
  books exactly that in PLN (art. 106e ust. 11);
* P_15 = sum of P_13_x + sum of P_14_x = the amount due Odoo booked;
* gross-priced lines (price-included taxes) also carry P_9B / P_11A, adding up to
  P_13_x + P_14_x of their rate.
"""
import random
from decimal import ROUND_HALF_UP, Decimal
from unittest.mock import patch

from odoo.addons.account.models.account_tax import AccountTax as OdooAccountTax
from odoo.tests import tagged

from ..ksef.fa3 import codes as fa3_codes
from ..ksef.fa3 import parse_invoice_xml
from ..ksef.ksef_number import make_ksef_number
from ..models.ksef_fa3_mapping import AccountTax
from .common import TEST_NIP
from .send_common import INVOICE_DATE, KsefSendCommon

CENT = Decimal("0.01")
PRICES = ("0.125", "0.335", "1.005", "2.675", "19.995", "33.335", "99.99", "0.045", "1234.565",
          "7.77", "0.01", "45.5555")
QUANTITIES = ("1", "2", "3", "7", "1.5", "0.333", "12", "0.5")
DISCOUNTS = (0, 0, 0, 5, 12.5, 33.33)
RATES = {"EUR": "4.2719", "USD": "3.6587"}


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefFa3Amounts(KsefSendCommon):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.usd = cls.env.ref("base.USD")
        cls.usd.active = True
        for currency, rate in ((cls.eur, RATES["EUR"]), (cls.usd, RATES["USD"])):
            cls.env["res.currency.rate"].create({
                "name": INVOICE_DATE, "company_id": cls.company.id, "currency_id": currency.id,
                "inverse_company_rate": float(rate)})
        for code in ("23", "8"):
            cls.tax[code + "i"] = cls.tax[code].copy({
                "name": "%s%% brutto" % code, "price_include_override": "tax_included"})

    # --- builders -----------------------------------------------------------------------------
    def random_invoice(self, rng, currency, lines=None, move_type="out_invoice"):
        count = lines or rng.randint(5, 25)
        move = self.make_invoice(
            [(float(rng.choice(PRICES)), float(rng.choice(QUANTITIES)),
              rng.choice(("23", "23", "8", "5", "0", "zw", "23i", "8i"))) for _i in range(count)],
            move_type=move_type, post=False,
            partner=self.buyer if currency == "PLN" else self.eu_buyer,
            currency_id=self.env.ref("base.%s" % currency).id)
        for line in move.invoice_line_ids:
            line.discount = rng.choice(DISCOUNTS)
        move.action_post()
        return move

    # --- the checks ---------------------------------------------------------------------------
    def assertExact(self, move):
        sign = -1 if move.move_type == "out_refund" else 1
        xml = move._l10n_pl_ksef_build_xml()           # XSD and the core's business checks
        invoice = parse_invoice_xml(xml)
        totals = invoice.totals
        nets, grosses, gross_only = {}, {}, {}
        for line in invoice.lines:
            bucket = fa3_codes.RATE_BUCKET[line.vat_rate]
            nets[bucket] = nets.get(bucket, Decimal(0)) + line.net_amount
            if line.gross_amount is not None:
                grosses[bucket] = grosses.get(bucket, Decimal(0)) + line.gross_amount
            gross_only[bucket] = gross_only.get(bucket, True) and line.gross_amount is not None
        booked_net, booked_vat, booked_pln = {}, {}, {}
        for line in move.line_ids:
            if line.display_type == "product":
                code = move._l10n_pl_ksef_get_vat_code(line.tax_ids)
                bucket = fa3_codes.RATE_BUCKET[code]
                booked_net[bucket] = booked_net.get(bucket, Decimal(0)) + self.dec(-line.amount_currency)
            elif line.display_type == "tax":
                bucket = fa3_codes.RATE_BUCKET[move._l10n_pl_ksef_get_vat_code(line.tax_line_id)]
                booked_vat[bucket] = booked_vat.get(bucket, Decimal(0)) + self.dec(-line.amount_currency)
                booked_pln[bucket] = booked_pln.get(bucket, Decimal(0)) + self.dec(-line.balance)
        label = "%s (%s, %s)" % (move.name, move.currency_id.name,
                                 move.company_id.tax_calculation_rounding_method)
        p15 = Decimal(0)
        for bucket, (net, vat, vat_pln) in totals.by_bucket().items():
            self.assertEqual(net, nets[bucket], "%s: P_13_%s is not the sum of its lines' P_11"
                             % (label, bucket))
            self.assertEqual(net, booked_net[bucket], "%s: P_13_%s differs from the booked net"
                             % (label, bucket))
            p15 += net
            if bucket in fa3_codes.VAT_BUCKETS:
                self.assertEqual(vat, booked_vat.get(bucket, Decimal("0.00")),
                                 "%s: P_14_%s differs from the booked VAT" % (label, bucket))
                p15 += vat
                if gross_only[bucket]:
                    self.assertEqual(grosses[bucket], net + vat, "%s: the gross values (P_11A) "
                                     "of rate %s do not add up to P_13 + P_14" % (label, bucket))
                if move.currency_id.name != "PLN":
                    rate = Decimal(RATES[move.currency_id.name])
                    self.assertEqual(invoice.lines[0].exchange_rate, rate)
                    expected = (vat * rate).quantize(CENT, rounding=ROUND_HALF_UP)
                    self.assertEqual(vat_pln, expected, "%s: P_14_%sW is not P_14_%s at %s"
                                     % (label, bucket, bucket, rate))
                    self.assertEqual(vat_pln, booked_pln.get(bucket, Decimal("0.00")),
                                     "%s: P_14_%sW differs from the VAT booked in PLN"
                                     % (label, bucket))
                else:
                    self.assertIsNone(vat_pln)
        self.assertEqual(totals.p_15, p15, "%s: P_15 is not the sum of the totals" % label)
        self.assertEqual(totals.p_15, self.dec(move.amount_total) * sign,
                         "%s: P_15 differs from the booked amount due" % label)
        self.assertEqual(move._l10n_pl_ksef_check_invoice(), [])
        return invoice

    @staticmethod
    def dec(value):
        return Decimal(repr(round(value, 2))).quantize(CENT)

    # --- the cases ----------------------------------------------------------------------------
    def test_random_invoices_both_rounding_methods(self):
        rng = random.Random(20261202)
        checked = 0
        for method in ("round_globally", "round_per_line"):
            self.company.tax_calculation_rounding_method = method
            for currency in ("PLN", "EUR", "USD"):
                for _number in range(4):
                    self.assertExact(self.random_invoice(rng, currency))
                    checked += 1
        self.assertEqual(checked, 24)

    def test_many_lines_half_grosz_foreign_currency(self):
        """60 lines of 0.125 / 0.335 EUR at 23 %: per-line and global rounding differ by many
        grosze; the VAT in PLN is the printed VAT at the printed rate, as booked."""
        for method in ("round_globally", "round_per_line"):
            self.company.tax_calculation_rounding_method = method
            move = self.make_invoice([(0.125 if i % 2 else 0.335, 1, "23") for i in range(60)],
                                     partner=self.eu_buyer, currency_id=self.eur.id)
            invoice = self.assertExact(move)
            vat = invoice.totals.p_14_1
            self.assertEqual(invoice.totals.p_14_1w,
                             (vat * Decimal("4.2719")).quantize(CENT, rounding=ROUND_HALF_UP))

    def test_price_included_taxes_gross_lines(self):
        """Gross prices: P_9B/P_11A as entered, nets as booked (Odoo's rounding difference lands
        on one line), so the lines add up to the totals exactly."""
        self.company.tax_calculation_rounding_method = "round_globally"
        move = self.make_invoice([(21.53, 1, "23i"), (21.53, 1, "23i"), (2000.0, 1, "23i"),
                                  (50.0, 1, "23i"), (1.0, 1, "8i")])
        invoice = self.assertExact(move)
        self.assertEqual(sum(line.gross_amount for line in invoice.lines), Decimal("2094.06"))
        self.assertEqual(invoice.totals.p_15, Decimal("2094.06"))

    def test_credit_notes_are_exact(self):
        rng = random.Random(7)
        for number, currency in enumerate(("PLN", "EUR")):
            invoice = self.random_invoice(rng, currency, lines=12)
            invoice.l10n_pl_ksef_number = make_ksef_number(TEST_NIP, INVOICE_DATE,
                                                           "%012X" % (0xA0A0 + number))
            refund = self.make_credit_note(invoice, ksef_number=False)
            self.assertExact(refund)

    def test_vat_booked_in_pln_before_install_is_flagged(self):
        """An invoice whose PLN VAT was booked otherwise (confirmed before the module) is not
        sent with amounts that disagree: Odoo says how to fix it, and reposting fixes it."""
        def odoo_alone(tax_model, base_lines, company, mode="mixed"):
            return OdooAccountTax._round_tax_details_tax_amounts(tax_model, base_lines, company,
                                                                 mode=mode)
        with patch.object(AccountTax, "_round_tax_details_tax_amounts", odoo_alone):
            move = self.make_invoice([(100.03, 1, "23")], partner=self.eu_buyer,
                                     currency_id=self.eur.id)
        tax_line = move.line_ids.filtered(lambda line: line.display_type == "tax")
        self.assertAlmostEqual(-tax_line.balance, 98.28)        # Odoo alone: unrounded VAT
        problems = move._l10n_pl_ksef_check_invoice()
        self.assertTrue(any("Reset the invoice to draft and confirm it again" in p
                            and "98.30" in p for p in problems), problems)
        move.button_draft()
        move.action_post()
        self.assertAlmostEqual(-tax_line.balance, 98.30)
        self.assertExact(move)

    def test_tax_line_fix_only_for_polish_companies(self):
        """The PLN VAT rule applies to companies whose fiscal country is Poland."""
        self.assertEqual(self.company.account_fiscal_country_id.code, "PL")
        move = self.make_invoice([(100.03, 1, "23")], partner=self.eu_buyer,
                                 currency_id=self.eur.id)
        tax_line = move.line_ids.filtered(lambda line: line.display_type == "tax")
        # 100.03 EUR x 23 % = 23.0069 -> 23.01 EUR; 23.01 x 4.2719 = 98.296419 -> 98.30 PLN
        # (Odoo alone converts the unrounded 23.0069: 98.28)
        self.assertAlmostEqual(-tax_line.amount_currency, 23.01)
        self.assertAlmostEqual(-tax_line.balance, 98.30)
        self.assertEqual(move.invoice_line_ids.mapped("tax_ids"), self.tax["23"])
