"""Invoices received from KSeF are XSD-validated before they become bills: every reason, readable."""
import re

import pytest

from ksef.errors import IncomingInvoiceInvalid, InvoiceValidationError, KSeFError, XMLSecurityError
from ksef.fa3 import parse_incoming_invoice_xml, parse_invoice_xml, validate_incoming
from ksef.tests.fa3_helpers import SAMPLES_DIR

pytestmark = pytest.mark.skipif(not SAMPLES_DIR.is_dir(), reason="shared/ksef not available")
SAMPLE = SAMPLES_DIR / "FA_3_Przykład_1.xml"


def _broken():
    data = SAMPLE.read_bytes()
    data = re.sub(rb"<P_2>[^<]*</P_2>", b"", data, count=1)             # no invoice number
    data = data.replace(b"<P_12>23</P_12>", b"<P_12>99</P_12>", 1)       # unknown VAT rate code
    return data.replace(b"</Podmiot1>", b"</Podmiot1><Obcy>x</Obcy>", 1)  # a foreign element


def test_a_valid_invoice_is_parsed():
    assert validate_incoming(SAMPLE.read_bytes()) == []
    invoice = parse_incoming_invoice_xml(SAMPLE.read_bytes())
    assert invoice.number and invoice.lines


def test_every_reason_is_given_not_only_the_first():
    problems = validate_incoming(_broken())
    assert [p.element for p in problems] == ["Obcy", "P_6", "P_12"]
    text = [str(p) for p in problems]
    assert text[0] == ("The element Obcy is not part of the FA(3) schema; remove it (or ask the "
                       "issuer to).")
    assert "invoice number (numer faktury, P_2) is missing" in text[1]
    assert text[2].startswith("Line 1: the VAT rate '99' is not one KSeF accepts")
    assert all(p.code == "xsd" and p.template and p.raw for p in problems)


def test_parse_incoming_refuses_before_mapping():
    with pytest.raises(IncomingInvoiceInvalid) as info:
        parse_incoming_invoice_xml(_broken())
    exc = info.value
    assert isinstance(exc, InvoiceValidationError) and isinstance(exc, KSeFError)
    assert len(exc.problems) == 3
    assert "not turned into a bill" in exc.message and "P_2" in exc.message
    assert "ask the seller for a correction" in exc.message
    # translatable: a template with %(name)s placeholders, the reasons as nested templates
    assert "%(problems)s" in exc.template
    nested = exc.params["problems"]
    assert {type(v).__name__ for v in nested.params.values()} == {"Problem"}
    # the lenient parser still maps it (the unknown element is kept, not dropped)
    assert [u.name for u in parse_invoice_xml(_broken()).unknown_xml] == ["Obcy"]
    with pytest.raises(InvoiceValidationError):
        parse_invoice_xml(_broken(), validate=True)


def test_not_fa3_and_hostile_documents():
    other = b'<?xml version="1.0" encoding="UTF-8"?><Faktura xmlns="urn:other"><A/></Faktura>'
    problems = validate_incoming(other)
    assert len(problems) == 1 and "This is not an FA(3) invoice" in problems[0]
    with pytest.raises(IncomingInvoiceInvalid):
        parse_incoming_invoice_xml(other)
    with pytest.raises(XMLSecurityError) as info:
        parse_incoming_invoice_xml(SAMPLE.read_bytes().replace(b"ABC AGD", b"ABC \xff AGD"))
    assert info.value.reason == "encoding"


def test_many_reasons_are_capped_in_the_message():
    exc = IncomingInvoiceInvalid(problems=["reason %d" % i for i in range(25)])
    assert "reason 19" in exc.message and "reason 20" not in exc.message
    assert "... and 5 more" in exc.message and len(exc.problems) == 25
