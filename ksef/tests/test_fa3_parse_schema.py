"""FA(3) parser safety and the schema loader (local folder, env, the explicit download tool)."""
import functools
import http.server
import shutil
import threading

import pytest

from ksef.errors import InvoiceValidationError, SchemaUnavailableError, XMLSecurityError
from ksef.fa3 import build_invoice_xml, load_schema, parse_invoice_xml, validate_xml
from ksef.fa3 import schema as schema_mod
from ksef.tests.fa3_helpers import SAMPLES_DIR, SCHEMA_DIR, make_invoice

pytestmark = pytest.mark.skipif(not SCHEMA_DIR.is_dir(), reason="shared/ksef not available")
SAMPLE = SAMPLES_DIR / "FA_3_Przykład_1.xml"


# --- hostile input -------------------------------------------------------------------

def test_xxe_is_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    data = SAMPLE.read_bytes().replace(
        b'<?xml version="1.0" encoding="UTF-8"?>',
        b'<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE Faktura [<!ENTITY x SYSTEM "file://%s">]>'
        % str(secret).encode()).replace(b"<P_2>FV2026/02/150</P_2>", b"<P_2>&x;</P_2>")
    with pytest.raises(XMLSecurityError) as info:
        parse_invoice_xml(data)
    assert "DOCTYPE" in str(info.value) and "TOP SECRET" not in str(info.value)


def test_billion_laughs_is_refused():
    lol = b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">' + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)) + b']><Faktura>&lol9;</Faktura>'
    with pytest.raises(XMLSecurityError):
        parse_invoice_xml(lol)


def test_oversize_is_refused():
    data = SAMPLE.read_bytes().replace(b"</Faktura>", b"<!--" + b"x" * 3_100_000 + b"--></Faktura>")
    with pytest.raises(XMLSecurityError) as info:
        parse_invoice_xml(data)
    assert "too large" in str(info.value)


def test_not_fa3_and_bad_values():
    with pytest.raises(InvoiceValidationError) as info:
        parse_invoice_xml(b"<Faktura xmlns='http://crd.gov.pl/wzor/2023/06/29/12648/'/>")
    assert "not an FA(3) invoice" in str(info.value)
    with pytest.raises(XMLSecurityError):
        parse_invoice_xml(b"<Faktura")
    bad = SAMPLE.read_bytes().replace(b"<P_1>2026-02-15</P_1>", b"<P_1>15.02.2026</P_1>")
    with pytest.raises(InvoiceValidationError) as info:
        parse_invoice_xml(bad)
    assert info.value.problems == ["issue date (data wystawienia, P_1): '15.02.2026' is not a date "
                                   "(YYYY-MM-DD)."]
    bad = SAMPLE.read_bytes().replace(b"<P_11>40.65</P_11>", b"<P_11>40,65</P_11>")
    with pytest.raises(InvoiceValidationError):
        parse_invoice_xml(bad)


def test_unknown_elements_are_kept_not_dropped():
    data = SAMPLE.read_bytes().replace(b"<P_12>5</P_12>", b"<P_12>5</P_12><Extra>9.99</Extra>")
    inv = parse_invoice_xml(data)
    assert [u.name for u in inv.unknown_xml] == ["Extra"] and b"9.99" in inv.unknown_xml[0].xml
    with pytest.raises(InvoiceValidationError):
        parse_invoice_xml(data, validate=True, schema=load_schema(str(SCHEMA_DIR)))


def test_validate_xml_for_the_emulator():
    schema = load_schema(str(SCHEMA_DIR))
    assert validate_xml(SAMPLE.read_bytes(), schema) == []
    bad = SAMPLE.read_bytes().replace(b"<NIP>1111111111</NIP>", b"<NIP>11111</NIP>")
    problems = validate_xml(bad, schema)
    assert problems == ["Buyer: NIP must have 10 digits (got '11111')."]


# --- schema loading ---------------------------------------------------------------------

def test_load_from_dir_is_cached_and_env(monkeypatch):
    one = load_schema(str(SCHEMA_DIR))
    assert load_schema(str(SCHEMA_DIR)) is one
    monkeypatch.setenv("KSEF_SCHEMA_DIR", str(SCHEMA_DIR))
    assert load_schema() is one
    with pytest.raises(SchemaUnavailableError) as info:
        load_schema("/nonexistent/dir")
    assert "No FA(3) schema found in /nonexistent/dir" in str(info.value)


@pytest.fixture()
def official_server(tmp_path):
    """A local HTTP server serving the schema files as published (absolute import URL)."""
    root = tmp_path / "www"
    shutil.copytree(SCHEMA_DIR, root)
    main = root / schema_mod.FA3_XSD_NAME
    main.write_bytes(main.read_bytes().replace(
        b'schemaLocation="bazowe/StrukturyDanych_v10-0E.xsd"',
        b'schemaLocation="http://crd.gov.pl/xml/schematy/dziedzinowe/mf/2022/01/05/eD/'
        b'DefinicjeTypy/StrukturyDanych_v10-0E.xsd"'))
    hits = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            hits.append(self.path)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    base = "http://127.0.0.1:%d/" % server.server_address[1]
    yield base, hits
    server.shutdown()
    server.server_close()


def test_download_tool_gives_the_shipped_files(official_server, tmp_path, monkeypatch):
    base, hits = official_server
    monkeypatch.delenv("KSEF_SCHEMA_DIR", raising=False)
    cache = tmp_path / "cache"
    urls = dict(fa_url=base + "schemat_FA(3)_v1-0E.xsd", bazowe_url=base + "bazowe/")
    assert schema_mod.download_schema(str(cache), **urls) == str(cache)
    assert len(hits) == 4
    text = (cache / schema_mod.FA3_XSD_NAME).read_bytes()
    assert b'schemaLocation="bazowe/StrukturyDanych_v10-0E.xsd"' in text
    assert b'schemaLocation="http' not in text
    # what the tool writes is what the module ships
    shipped = schema_mod.SHIPPED_SCHEMA_DIR
    assert text == open(shipped + "/" + schema_mod.FA3_XSD_NAME, "rb").read()
    for name in schema_mod.BAZOWE_FILES:
        assert (cache / "bazowe" / name).read_bytes() == open(shipped + "/bazowe/" + name, "rb").read()
    schema = load_schema(str(cache))
    assert validate_xml(SAMPLE.read_bytes(), schema) == []
    # loading never downloads
    schema_mod.clear_cache()
    load_schema()
    load_schema(str(cache))
    assert len(hits) == 4
    monkeypatch.setenv("KSEF_SCHEMA_DIR", str(cache))
    assert build_invoice_xml(make_invoice(2)).startswith(b"<?xml")


def test_download_failure_is_plain(official_server, tmp_path, monkeypatch):
    base, _hits = official_server
    monkeypatch.delenv("KSEF_SCHEMA_DIR", raising=False)
    with pytest.raises(SchemaUnavailableError) as info:
        schema_mod.download_schema(str(tmp_path / "c"), fa_url=base + "missing.xsd",
                                   bazowe_url=base + "bazowe/")
    assert "HTTP 404" in str(info.value)
    # a wrong file is refused
    with pytest.raises(SchemaUnavailableError) as info:
        schema_mod.download_schema(str(tmp_path / "c3"),
                                   fa_url=base + "bazowe/KodyKrajow_v10-0E.xsd",
                                   bazowe_url=base + "bazowe/")
    assert "not the FA(3) schema" in str(info.value)
