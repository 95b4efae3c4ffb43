"""Helpers shared by the KSeF client tests (test_client_*.py)."""
import datetime
import os
import re
import time
import uuid
import zoneinfo

from lxml import etree

from ksef.client import KSeFClient

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.normpath(os.path.join(REPO, "..", "shared", "ksef"))
FA_SCHEMA_DIR = os.path.join(SHARED, "schemas", "FA")
UPO_XSD = os.path.join(SHARED, "schemas", "UPO", "upo-v4-3.xsd")
SAMPLE_1 = os.path.join(SHARED, "samples", "fa3", "FA_3_Przykład_1.xml")
#: the seller NIP of the official sample invoices
SELLER_NIP = "9999999999"


def today_in_poland():
    return datetime.datetime.now(zoneinfo.ZoneInfo("Europe/Warsaw")).date()


def sample_invoice(invoice_number=None, path=SAMPLE_1, issue_date=None):
    """An official FA(3) sample with a fresh invoice number (P_2), so it is never a duplicate, and
    issued today (P_1), so KSeF does not classify it as offline."""
    with open(path, "rb") as handle:
        data = handle.read()
    number = invoice_number or "FV/TEST/%s" % uuid.uuid4().hex[:12].upper()
    data = re.sub(rb"<P_2>[^<]*</P_2>", b"<P_2>" + number.encode() + b"</P_2>", data, count=1)
    issued = (issue_date or today_in_poland()).isoformat().encode()
    return re.sub(rb"<P_1>[^<]*</P_1>", b"<P_1>" + issued + b"</P_1>", data, count=1)


def invalid_invoice():
    """Well-formed XML that breaks the FA(3) schema (an unknown element inside Fa)."""
    return sample_invoice().replace(b"<P_2>", b"<NotInSchema>1</NotInSchema><P_2>", 1)


def make_client(url, openapi_check=None, **kwargs):
    """A client on the emulator; every response (and its request) goes through openapi_check."""
    kwargs.setdefault("timeout", (2, 5))
    client = KSeFClient(url, **kwargs)
    client.slept = []

    def short_sleep(seconds):        # polls and Retry-After waits are recorded, not really waited
        client.slept.append(seconds)
        time.sleep(min(seconds, 0.02))
    client.sleep = client.transport.sleep = short_sleep
    client.checked = 0          # responses validated against the OpenAPI
    if openapi_check is not None:
        def hook(response, *args, **kw):
            openapi_check(response)
            client.checked += 1
            return response
        client.session.hooks["response"].append(hook)
    return client


_UPO_SCHEMA = []


def upo_schema():
    if not _UPO_SCHEMA:
        _UPO_SCHEMA.append(etree.XMLSchema(etree.parse(UPO_XSD)))
    return _UPO_SCHEMA[0]


def assert_valid_upo(upo_bytes):
    schema = upo_schema()
    doc = etree.fromstring(upo_bytes)
    assert schema.validate(doc), schema.error_log
    return doc


def count(emu, method, template):
    """How many requests the emulator served for ``METHOD /template`` (with or without /v2)."""
    counters = emu.counters
    key = "%s %s" % (method, template)
    return counters.get(key, 0) + counters.get("%s /v2%s" % (method, template), 0)


class ClientFactory:
    """Makes authenticated clients on the emulator (token login by default) and closes them."""

    def __init__(self, emu, openapi_check):
        self.emu = emu
        self.openapi_check = openapi_check
        self.clients = []

    def __call__(self, nip=SELLER_NIP, token=None, login=True, **kwargs):
        client = make_client(self.emu.url, self.openapi_check, **kwargs)
        self.clients.append(client)
        if login:
            client.authenticate_with_token(nip, token or self.emu.make_ksef_token(nip))
        return client

    def close(self):
        for client in self.clients:
            client.close()
