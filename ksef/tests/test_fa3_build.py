"""FA(3) builder: invoice variants valid against the official XSD, readable errors."""
from dataclasses import replace
from datetime import date
from decimal import Decimal as D

import pytest
from lxml import etree

from ksef.errors import InvoiceTooLargeError, InvoiceValidationError, SchemaUnavailableError
from ksef.fa3 import (
    AdditionalInfo,
    Address,
    AdvanceInvoiceRef,
    Annotations,
    BankAccount,
    Buyer,
    CorrectedInvoice,
    Correction,
    Footer,
    InvoiceLine,
    Order,
    OrderLine,
    PartialPayment,
    Payment,
    PaymentTerm,
    Registry,
    ThirdParty,
    Totals,
    build_invoice_xml,
    check_invoice,
    compute_totals,
    load_schema,
    parse_invoice_xml,
)
from ksef.fa3.codes import NS
from ksef.ksef_number import make_ksef_number
from ksef.tests.fa3_helpers import SCHEMA_DIR, SELLER_NIP, make_invoice

pytestmark = pytest.mark.skipif(not SCHEMA_DIR.is_dir(), reason="shared/ksef not available")
Q = "{%s}" % NS


@pytest.fixture(scope="module")
def schema():
    return load_schema(str(SCHEMA_DIR))


def _build(inv, schema, **kw):
    if inv.totals is None:
        inv.totals = compute_totals(inv)
    return build_invoice_xml(inv, schema=schema, **kw)


def _problems(inv, schema, **kw):
    with pytest.raises(InvoiceValidationError) as info:
        _build(inv, schema, **kw)
    return info.value.problems


def test_domestic_invoice_bytes_and_defaults(schema):
    inv = make_invoice(3)
    data = _build(inv, schema)
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Faktura xmlns="%s">'
                           % NS.encode())
    assert not data.startswith(b"\xef\xbb\xbf")
    root = etree.fromstring(data)
    assert root.findtext(Q + "Naglowek/" + Q + "DataWytworzeniaFa") == "2026-02-15T09:30:00Z"
    ann = root.find(Q + "Fa/" + Q + "Adnotacje")
    assert [(etree.QName(e).localname, e.text) for e in ann.iter() if e.text and e.text.strip()] == [
        ("P_16", "2"), ("P_17", "2"), ("P_18", "2"), ("P_18A", "2"), ("P_19N", "1"),
        ("P_22N", "1"), ("P_23", "2"), ("P_PMarzyN", "1")]
    buyer = root.find(Q + "Podmiot2")
    assert buyer.findtext(Q + "JST") == "2" and buyer.findtext(Q + "GV") == "2"
    fa = root.find(Q + "Fa")
    # 23%: 19.99*1 ; 8%: 20.99*2 ; 5%: 21.99*3
    assert fa.findtext(Q + "P_13_1") == "19.99" and fa.findtext(Q + "P_14_1") == "4.60"
    assert fa.findtext(Q + "P_13_2") == "41.98" and fa.findtext(Q + "P_14_2") == "3.36"
    assert fa.findtext(Q + "P_13_3") == "65.97" and fa.findtext(Q + "P_14_3") == "3.30"
    assert fa.findtext(Q + "P_15") == "139.20"


def test_build_is_deterministic(schema):
    one = _build(make_invoice(20), schema)
    two = _build(make_invoice(20), schema)
    assert one == two
    assert build_invoice_xml(parse_invoice_xml(one), schema=schema) == one


def test_explicit_totals_are_used_as_given(schema):
    inv = make_invoice(1)
    inv.totals = Totals(p_13_1=D("19.99"), p_14_1=D("4.59"), p_15=D("24.58"))   # Odoo rounding
    root = etree.fromstring(build_invoice_xml(inv, schema=schema))
    assert root.findtext(".//" + Q + "P_14_1") == "4.59"


def test_buyer_variants_and_rates(schema):
    cases = [
        (Buyer.eu("DE", "DE123456789", "Kunde GmbH", address=Address("DE", "Hauptstr. 1")),
         "0 WDT", "P_13_6_2"),
        (Buyer.foreign("US", "12-3456789", "Client Inc."), "0 EX", "P_13_6_3"),
        (Buyer.consumer("Anna Nowak"), "0 KR", "P_13_6_1"),
        (Buyer.eu("FR", "12345678901", "Client SARL"), "np II", "P_13_9"),
        (Buyer.foreign("NO", "NO999", "Kunde AS"), "np I", "P_13_8"),
    ]
    for buyer, rate, field in cases:
        line = InvoiceLine(name="Goods", quantity=D(2), unit="szt.", unit_price_net=D("50"),
                           net_amount=D("100.00"), vat_rate=rate)
        inv = make_invoice(0, buyer=buyer, lines=[line])
        root = etree.fromstring(_build(inv, schema))
        assert root.findtext(".//" + Q + field) == "100.00"
        assert root.findtext(".//" + Q + "P_15") == "100.00"
        ids = root.find(Q + "Podmiot2/" + Q + "DaneIdentyfikacyjne")
        if buyer.no_id:
            assert ids.findtext(Q + "BrakID") == "1"
        if buyer.eu_code:
            assert ids.findtext(Q + "KodUE") == buyer.eu_code and ids.findtext(
                Q + "NrVatUE").isalnum()


def test_reverse_charge_and_exemption(schema):
    oo = InvoiceLine(name="Scrap", quantity=D(1), unit_price_net=D(500), net_amount=D("500.00"),
                     vat_rate="oo", gtu="GTU_01")
    inv = make_invoice(0, lines=[oo])
    assert any("reverse-charge" in p for p in check_invoice(inv))
    inv.annotations = Annotations(reverse_charge=True)
    root = etree.fromstring(_build(inv, schema))
    assert root.findtext(".//" + Q + "P_18") == "1" and root.findtext(".//" + Q + "P_13_10") == "500.00"

    zw = InvoiceLine(name="Training", quantity=D(1), unit_price_net=D(300), net_amount=D("300"),
                     vat_rate="zw")
    inv = make_invoice(0, lines=[zw], annotations=Annotations(
        exemption="art. 43 ust. 1 pkt 29 lit. c ustawy o VAT"))
    root = etree.fromstring(_build(inv, schema))
    zwol = root.find(".//" + Q + "Zwolnienie")
    assert zwol.findtext(Q + "P_19") == "1" and zwol.findtext(Q + "P_19A").startswith("art. 43")
    assert root.findtext(".//" + Q + "P_13_7") == "300.00"


def test_split_payment_payment_block_third_party_footer(schema):
    inv = make_invoice(2, annotations=Annotations(split_payment=True), receipt_invoice=False)
    inv.lines[0].gtu = "GTU_06"
    inv.payment = Payment(terms=[PaymentTerm(due_date=date(2026, 3, 1)),
                                 PaymentTerm(amount=14, unit="dni", start_event="od dostawy")],
                          form=6, bank_accounts=[BankAccount("PL61109010140000071219812874",
                                                             swift="WBKPPLPP", bank_name="Bank")])
    inv.third_parties = [ThirdParty(nip="1111111111", name="Odbiorca", role=2),
                         ThirdParty(name="Inny", no_id=True, other_role="pełnomocnik")]
    inv.additional_info = [AdditionalInfo("Zamówienie", "ZK/1/2026")]
    inv.footer = Footer(texts=["Kapitał zakładowy 5 000 zł"],
                        registries=[Registry(krs="0000099999", regon="999999999", bdo="000099999")])
    root = etree.fromstring(_build(inv, schema))
    assert root.findtext(".//" + Q + "P_18A") == "1"
    assert [e.findtext(Q + "Rola") for e in root.findall(Q + "Podmiot3")] == ["2", None]
    assert root.findtext(".//" + Q + "TerminOpis/" + Q + "Ilosc") == "14"

    paid = make_invoice(1, payment=Payment(paid=True, paid_date=date(2026, 2, 15), form=2))
    root = etree.fromstring(_build(paid, schema))
    assert root.findtext(".//" + Q + "Zaplacono") == "1"
    partial = make_invoice(1, payment=Payment(partial_flag=1, partial_payments=[
        PartialPayment(D("10.00"), date(2026, 2, 10), form=1)]))
    root = etree.fromstring(_build(partial, schema))
    assert root.findtext(".//" + Q + "KwotaZaplatyCzesciowej") == "10.00"


def test_foreign_currency_vat_in_pln(schema):
    inv = make_invoice(0, currency="EUR", lines=[
        InvoiceLine(name="Fridge", quantity=D(10), unit_price_net=D(406), net_amount=D(4060),
                    vat_rate="23", exchange_rate=D("4.5005"))])
    inv.totals = compute_totals(inv)
    assert inv.totals.p_14_1 == D("933.80") and inv.totals.p_14_1w == D("4202.57")
    _build(inv, schema)
    inv.totals.p_14_1w = None
    assert any("P_14_1W" in p for p in check_invoice(inv))


def test_exact_totals_net_sum_and_vat_in_pln():
    """P_13_x of net-priced lines is their exact sum; P_14_xW is P_14_x at KursWaluty."""
    from ksef.fa3 import vat_in_pln
    assert vat_in_pln(D("23.01"), D("4.3215")) == D("99.44")       # not 99.42 (unrounded VAT)
    assert vat_in_pln(D("0.01"), D("0.5")) == D("0.01")            # half a grosz: up
    lines = [InvoiceLine(name="L%d" % i, quantity=D(1), unit_price_net=D("33.335"),
                         net_amount=D("33.34"), vat_rate="23", exchange_rate=D("4.3215"))
             for i in range(3)]
    inv = make_invoice(0, currency="EUR", lines=lines)
    inv.totals = compute_totals(inv)
    assert check_invoice(inv, strict=False) == []
    inv.totals.p_13_1 += D("0.01")                                 # one grosz off the lines
    inv.totals.p_15 += D("0.01")
    assert any("P_13_1" in p for p in check_invoice(inv, strict=False))
    inv.totals = compute_totals(inv)
    inv.totals.p_14_1w += D("0.01")
    problems = check_invoice(inv, strict=False)
    assert any("P_14_1W" in p and "106e" in p for p in problems), problems


def test_gross_priced_lines():
    lines = [InvoiceLine(name="A", quantity=D(1), unit_price_gross=D("123.00"),
                         gross_amount=D("123.00"), vat_rate="23"),
             InvoiceLine(name="B", quantity=D(1), unit_price_gross=D("10.80"),
                         gross_amount=D("10.80"), vat_rate="8")]
    totals = compute_totals(lines)
    assert (totals.p_13_1, totals.p_14_1) == (D("100.00"), D("23.00"))
    assert (totals.p_13_2, totals.p_14_2) == (D("10.00"), D("0.80"))
    assert totals.p_15 == D("133.80")


def test_correction_before_after_with_ksef_number(schema):
    ksef_no = make_ksef_number(SELLER_NIP, date(2026, 2, 15), "0123456789AB")
    before = InvoiceLine(name="Widget", quantity=D(2), unit_price_net=D(10), net_amount=D("20.00"),
                         vat_rate="23", before_correction=True)
    after = replace(before, quantity=D(1), net_amount=D("10.00"), before_correction=False)
    inv = make_invoice(0, kind="KOR", number="KOR/1/2026", lines=[before, after],
                       correction=Correction(
                           reason="zwrot towaru", type=2,
                           invoices=[CorrectedInvoice(date(2026, 2, 15), "FV/1", ksef_no)]))
    data = _build(inv, schema)
    assert inv.totals.p_13_1 == D("-10.00") and inv.totals.p_14_1 == D("-2.30")
    assert inv.totals.p_15 == D("-12.30")
    root = etree.fromstring(data)
    ref = root.find(".//" + Q + "DaneFaKorygowanej")
    assert ref.findtext(Q + "NrKSeF") == "1" and ref.findtext(Q + "NrKSeFFaKorygowanej") == ksef_no
    assert root.findall(".//" + Q + "StanPrzed")[0].text == "1"

    outside = replace(inv, correction=Correction(invoices=[CorrectedInvoice(date(2025, 1, 2), "X/1")]))
    ref = etree.fromstring(_build(outside, schema)).find(".//" + Q + "DaneFaKorygowanej")
    assert ref.findtext(Q + "NrKSeFN") == "1" and ref.find(Q + "NrKSeF") is None

    missing = replace(inv, correction=None)
    problems = _problems(missing, schema)
    assert any("must name the invoice it corrects" in p for p in problems)


def test_advance_and_settlement(schema):
    order = Order(total=D("1230.00"), lines=[OrderLine(
        name="Machine", quantity=D(1), unit="szt.", unit_price_net=D(1000), net_amount=D("1000.00"),
        vat_amount=D("230.00"), vat_rate="23")])
    zal = make_invoice(0, kind="ZAL", lines=[], order=order,
                       totals=Totals(p_13_1=D("406.50"), p_14_1=D("93.50"), p_15=D("500.00")))
    root = etree.fromstring(_build(zal, schema))
    assert root.findtext(".//" + Q + "WartoscZamowienia") == "1230.00"
    assert root.findtext(".//" + Q + "P_12Z") == "23"

    ksef_no = make_ksef_number(SELLER_NIP, date(2026, 1, 10), "ABCDEF012345")
    roz = make_invoice(1, kind="ROZ", advance_invoices=[AdvanceInvoiceRef(ksef_number=ksef_no),
                                                        AdvanceInvoiceRef(number="ZAL/7/2025")],
                       totals=Totals(p_13_1=D("10.00"), p_14_1=D("2.30"), p_15=D("12.30")))
    root = etree.fromstring(_build(roz, schema))
    refs = root.findall(".//" + Q + "FakturaZaliczkowa")
    assert refs[0].findtext(Q + "NrKSeFFaZaliczkowej") == ksef_no
    assert refs[1].findtext(Q + "NrKSeFZN") == "1"
    assert any("advance invoices" in p for p in check_invoice(replace(roz, advance_invoices=[])))


def test_xsd_errors_are_readable(schema):
    inv = make_invoice(3)
    inv.lines[2].vat_rate = "X"
    problems = _problems(inv, schema, checks=False)
    assert any(p.startswith("Line 3: the VAT rate 'X' is not one KSeF accepts (23, 22, 8")
               for p in problems), problems
    assert all(p.raw for p in problems)

    inv = make_invoice(1, buyer=Buyer(nip="123", name="X"))
    problems = _problems(inv, schema, checks=False)
    assert problems == ["Buyer: NIP must have 10 digits (got '123')."]
    assert "pattern" in problems[0].raw and problems[0].element == "NIP"

    inv = make_invoice(1, number="N" * 300)
    problems = _problems(inv, schema, checks=False)
    assert "invoice number (numer faktury, P_2) is too long (300 characters; at most 256" in problems[0]

    inv = make_invoice(1)
    inv.lines[0].gtu = "GTU_99"
    problems = _problems(inv, schema, checks=False)
    assert problems[0].startswith("Line 1: the GTU code 'GTU_99' is not allowed; use one of: GTU_01")

    inv = make_invoice(1)
    inv.totals = compute_totals(inv)
    inv.totals.p_15 = None
    problems = _problems(inv, schema)
    assert "The total amount due (P_15) is missing." in problems
    assert ("The total amount due (gross) (kwota należności ogółem, P_15) is missing before the "
            "annotations "
            "(adnotacje, Adnotacje).") in problems


def test_business_checks(schema):
    inv = make_invoice(2, seller=replace(make_invoice().seller, nip="1234567890"))
    problems = _problems(inv, schema)
    assert any(p.startswith("Seller: NIP 1234567890 is not a valid Polish NIP") for p in problems)
    assert check_invoice(inv, strict=False) == []

    inv = make_invoice(2)
    inv.totals = compute_totals(inv)
    inv.totals.p_13_1 += D("1.00")
    problems = check_invoice(inv)
    assert any("net total of the basic rate 23%/22% (P_13_1) is 20.99, but the lines add up to 19.99"
               in p for p in problems)
    assert any("P_15" in p for p in problems)

    inv = make_invoice(1)
    inv.lines[0].net_amount = 19.99
    with pytest.raises(InvoiceValidationError) as info:
        build_invoice_xml(inv, schema=schema)
    assert "amounts must be Decimal" in str(info.value)

    inv = make_invoice(1, created_at=None)
    with pytest.raises(InvoiceValidationError) as info:
        build_invoice_xml(inv, schema=schema, checks=False)
    assert "DataWytworzeniaFa" in str(info.value)


def test_size_limit():
    long_name = "x" * 500
    lines = [InvoiceLine(name=long_name, quantity=D(1), unit_price_net=D(1), net_amount=D("1.00"),
                         vat_rate="23") for _ in range(2000)]
    inv = make_invoice(0, lines=lines)
    with pytest.raises(InvoiceTooLargeError) as info:
        build_invoice_xml(inv, validate=False)
    assert info.value.limit == 1_000_000 and info.value.size > 1_000_000


def test_validate_if_available(monkeypatch, tmp_path):
    monkeypatch.setenv("KSEF_SCHEMA_DIR", str(tmp_path))       # empty: no schema there
    inv = make_invoice(1)
    with pytest.raises(SchemaUnavailableError) as info:
        build_invoice_xml(inv)
    assert "unset KSEF_SCHEMA_DIR to use the schema shipped" in str(info.value)
    data = build_invoice_xml(inv, validate="if-available")
    assert data.startswith(b"<?xml")
    assert build_invoice_xml(inv, validate=False) == data
    # "if-available" falls back to the shipped schema: an invalid invoice is still refused
    inv.lines[0].vat_rate = "99"
    with pytest.raises(InvoiceValidationError) as info:
        build_invoice_xml(inv, validate="if-available", checks=False)
    assert any("P_12" in (p.raw or "") for p in info.value.problems)


def test_code_lists_of_the_odoo_layer():
    from ksef.fa3 import codes
    assert codes.PERCENT_CODES == {"23": 23, "22": 22, "8": 8, "7": 7, "5": 5, "4": 4, "3": 3}
    assert codes.BUCKET_CODE == {"1": "23", "2": "8", "3": "5", "4": "4", "6_1": "0 KR",
                                 "6_2": "0 WDT", "6_3": "0 EX", "7": "zw", "8": "np I",
                                 "9": "np II", "10": "oo"}
    assert all(codes.RATE_BUCKET[code] == bucket for bucket, code in codes.BUCKET_CODE.items())
    assert [code for code, _label in codes.VAT_CODE_SELECTION] == list(codes.VAT_RATES)
    assert dict(codes.VAT_CODE_SELECTION)["np II"] == "EU services, art. 100 (np II)"
