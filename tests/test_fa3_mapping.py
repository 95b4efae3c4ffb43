from odoo.tests import tagged

from .send_common import KsefSendCommon


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefFa3Mapping(KsefSendCommon):

    def test_golden_standard(self):
        move = self.make_invoice([(100.0, 2, "23")], name="FV/2026/0001")
        self.assertGolden(move, "standard.xml")

    def test_golden_several_rates(self):
        move = self.make_invoice([(100.0, 1, "23"), (50.0, 2, "8"), (10.0, 3, "5"), (20.0, 1, "0")],
                                 name="FV/2026/0002")
        xml = self.assertGolden(move, "several_rates.xml")
        for code in (b"<P_12>23</P_12>", b"<P_12>8</P_12>", b"<P_12>5</P_12>", b"<P_12>0 KR</P_12>"):
            self.assertIn(code, xml)

    def test_golden_foreign_currency(self):
        move = self.make_invoice([(100.0, 1, "23")], partner=self.eu_buyer, currency_id=self.eur.id,
                                 name="FV/2026/0003")
        xml = self.assertGolden(move, "foreign_currency.xml")
        self.assertIn(b"<KodWaluty>EUR</KodWaluty>", xml)
        # VAT 23 EUR at 4 PLN/EUR = 92 PLN
        self.assertIn(b"<P_14_1W>92.00</P_14_1W>", xml)
        self.assertIn(b"<KodUE>DE</KodUE>", xml)

    def test_golden_credit_note(self):
        invoice = self.make_invoice([(100.0, 2, "23")], name="FV/2026/0004")
        refund = self.make_credit_note(invoice, name="KOR/2026/0001")
        xml = self.assertGolden(refund, "credit_note.xml")
        self.assertIn(b"<RodzajFaktury>KOR</RodzajFaktury>", xml)
        self.assertIn(("<NrKSeFFaKorygowanej>%s</NrKSeFFaKorygowanej>"
                       % invoice.l10n_pl_ksef_number).encode(), xml)
        self.assertIn(b"<P_15>-246.00</P_15>", xml)

    def test_golden_exempt(self):
        move = self.make_invoice([(100.0, 1, "zw")], name="FV/2026/0005")
        xml = self.assertGolden(move, "exempt.xml")
        self.assertIn(b"<P_19A>art. 43 ust. 1 pkt 37 ustawy o VAT</P_19A>", xml)
        self.assertIn(b"<P_13_7>100.00</P_13_7>", xml)

    def test_golden_reverse_charge(self):
        move = self.make_invoice([(1000.0, 1, "oo")], name="FV/2026/0006")
        xml = self.assertGolden(move, "reverse_charge.xml")
        self.assertIn(b"<P_18>1</P_18>", xml)
        self.assertIn(b"<P_12>oo</P_12>", xml)
        self.assertIn(b"<P_13_10>1000.00</P_13_10>", xml)

    def test_consumer_and_wdt(self):
        consumer = self.make_invoice([(10.0, 1, "23")], partner=self.consumer)
        self.assertIn(b"<BrakID>1</BrakID>", consumer._l10n_pl_ksef_build_xml())
        wdt = self.make_invoice([(10.0, 1, "wdt")], partner=self.eu_buyer)
        self.assertIn(b"<P_12>0 WDT</P_12>", wdt._l10n_pl_ksef_build_xml())

    def test_polish_company_without_nip_is_not_sent_as_brakid(self):
        company_buyer = self.env["res.partner"].create({
            "name": "Firma Bez NIP sp. z o.o.", "is_company": True,
            "country_id": self.env.ref("base.pl").id, "street": "ul. Polna 1", "city": "Łódź"})
        move = self.make_invoice([(10.0, 1, "23")], partner=company_buyer)
        problems = "\n".join(move._l10n_pl_ksef_check_invoice())
        self.assertIn("has no NIP", problems)
        self.assertIn("BrakID", problems)
        # the user confirms it is a private person (contact type "Person"): sent with BrakID
        company_buyer.is_company = False
        self.assertFalse(move._l10n_pl_ksef_check_invoice())
        self.assertIn(b"<BrakID>1</BrakID>", move._l10n_pl_ksef_build_xml())

    def test_extension_hook(self):
        """Integrators change the data by overriding _l10n_pl_ksef_prepare_fa3_invoice."""
        from ..ksef.fa3.model import AdditionalInfo
        move = self.make_invoice()
        invoice = move._l10n_pl_ksef_prepare_fa3_invoice()
        invoice.additional_info.append(AdditionalInfo("Projekt", "P-42"))
        xml = move._l10n_pl_ksef_build_xml(invoice)
        self.assertIn(b"<Klucz>Projekt</Klucz>", xml)

    def test_invalid_invoice_readable_problems(self):
        self.connect_token()
        bad_partner = self.env["res.partner"].with_context(no_vat_validation=True).create({
            "name": "Zly NIP", "vat": "PL1234567890", "country_id": self.env.ref("base.pl").id})
        move = self.make_invoice([(100.0, 1, None), (10.0, 1, "zw")], partner=bad_partner)
        self.tax["zw"].invoice_legal_notes = False
        action = move.action_l10n_pl_ksef_send()
        self.assertEqual(action["tag"], "display_notification")
        text = move.l10n_pl_ksef_message
        self.assertIn("not a valid Polish NIP", text)
        self.assertIn("set a VAT tax", text)
        self.assertIn("legal basis", text)
        self.assertIn(text, action["params"]["message"])
        self.assertNotIn("Traceback", text)
        self.assertFalse(move.l10n_pl_ksef_state)
        self.assertFalse(self.emulator.state.invoices)
