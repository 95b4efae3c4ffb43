"""The FA(3) XSD shipped in ksef/fa3/xsd: byte-identical to the ministry's set, used by default
with no network, by the core and by the emulator."""
import hashlib
import os
import socket

import pytest

from ksef.emulator import Emulator
from ksef.emulator.fa_reader import Rejected, parse_invoice
from ksef.errors import InvoiceValidationError
from ksef.fa3 import build_invoice_xml, load_schema, shipped_schema
from ksef.fa3 import schema as schema_mod
from ksef.tests.fa3_helpers import SAMPLES_DIR, SCHEMA_DIR, make_invoice

SHIPPED = schema_mod.SHIPPED_SCHEMA_DIR
FILES = [schema_mod.FA3_XSD_NAME] + ["bazowe/" + name for name in schema_mod.BAZOWE_FILES]


def _sha(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def test_shipped_files_are_the_official_ones():
    readme = open(os.path.join(SHIPPED, "README.md"), encoding="utf-8").read()
    for name in FILES:
        digest = _sha(os.path.join(SHIPPED, name))
        assert digest in readme, name
        if SCHEMA_DIR.is_dir():
            assert digest == _sha(SCHEMA_DIR / name), name


@pytest.fixture()
def no_network(monkeypatch):
    """Every outgoing connection fails, the overrides are unset and nothing is compiled yet."""
    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.delenv("KSEF_SCHEMA_DIR", raising=False)
    monkeypatch.delenv("KSEF_SCHEMA_CACHE", raising=False)
    monkeypatch.setenv("HOME", "/nonexistent")
    schema_mod.clear_cache()
    yield
    schema_mod.clear_cache()


def test_validation_works_without_network_or_configuration(no_network):
    schema = load_schema()
    assert schema is shipped_schema()
    assert build_invoice_xml(make_invoice(2)).startswith(b"<?xml")
    bad = make_invoice(2)
    bad.lines[0].vat_rate = "99"                   # not a KSeF rate: only the XSD knows
    with pytest.raises(InvoiceValidationError) as info:
        build_invoice_xml(bad, checks=False)
    assert any(p.code == "xsd" and p.element == "P_12" for p in info.value.problems)
    with pytest.raises(InvoiceValidationError):
        build_invoice_xml(bad, validate="if-available", checks=False)


def test_every_official_sample_is_valid_against_the_shipped_schema():
    from ksef.fa3 import validate_xml
    samples = sorted(SAMPLES_DIR.glob("*.xml")) if SAMPLES_DIR.is_dir() else []
    if not samples:
        pytest.skip("shared/ksef samples not available")
    for path in samples:
        assert validate_xml(path.read_bytes(), shipped_schema()) == [], path.name


def test_the_emulator_validates_with_the_shipped_schema_by_default():
    assert Emulator().schema_dir == SHIPPED
    assert Emulator(schema_dir=False).schema_dir is None
    # one compiled schema per process, shared by the core and the emulator
    assert load_schema(Emulator().schema_dir) is shipped_schema()
    data = build_invoice_xml(make_invoice(1), validate=False)
    parse_invoice(data, SHIPPED)
    with pytest.raises(Rejected) as info:
        parse_invoice(data.replace(b"<P_12>23</P_12>", b"<P_12>99</P_12>"), SHIPPED)
    assert info.value.code == 430 and "xsd" in info.value.details[0]
