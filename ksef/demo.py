"""End-to-end demo against the embedded KSeF 2.0 emulator (or any TEST-like URL).

    python -m ksef demo [--url URL] [--nip NIP] [--invoice FILE] [--out DIR]

Without --url it starts the emulator in-process on a free loopback port. Then,
as one would on the ministry's TEST environment, it:

1. makes a self-signed test certificate for the NIP, logs in with XAdES and
   obtains a KSeF token through the official /tokens operations;
2. logs in again with that token (RSA-OAEP encrypted with the token key);
3. opens an online session (AES-256 key wrapped for the symmetric-key cert);
4. sends an official FA(3) sample invoice, encrypted;
5. waits for its KSeF number, prints it and saves the UPO receipt;
6. closes the session.
"""
import argparse
import os
import sys
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from lxml import etree

from . import bootstrap, crypto, environments, xmlsafe
from .client import KSeFClient
from .errors import KSeFError

FA3_NS = "http://crd.gov.pl/wzor/2025/06/25/13775/"

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "ksef"))
DEFAULT_INVOICE = os.path.join(SHARED, "samples", "fa3", "FA_3_Przykład_1.xml")


def _say(text):
    print(text, flush=True)


def issue_today(invoice):
    """The sample with P_1 = today (Polish time) and a unique number P_2.

    KSeF classifies an invoice whose issue date P_1 is earlier than the day it
    is sent as issued offline; sending an old sample as-is would show that.
    The unique number keeps a persistent emulator from reporting a duplicate.
    """
    root = xmlsafe.parse(invoice, what="sample invoice")
    now = datetime.now(ZoneInfo("Europe/Warsaw"))
    fa = root.find("{%s}Fa" % FA3_NS)
    fa.find("{%s}P_1" % FA3_NS).text = now.strftime("%Y-%m-%d")
    number = fa.find("{%s}P_2" % FA3_NS)
    number.text = "%s/DEMO/%s" % (number.text, now.strftime("%H%M%S%f"))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def run(url=None, nip="9999999999", invoice_path=DEFAULT_INVOICE, out_dir="demo-output",
        schema_dir=None):
    """Run the demo; returns a dict with the KSeF number and the UPO path."""
    emulator = None
    if url is None:
        from .emulator import Emulator
        emulator = Emulator(schema_dir=schema_dir)     # None: the shipped FA(3) XSD
        url = emulator.start()
        _say("Started the local KSeF 2.0 emulator at %s (FA(3) XSD validation on)" % url)
    try:
        with open(invoice_path, "rb") as handle:
            invoice = issue_today(handle.read())
        env = environments.custom(url)
        started = time.monotonic()

        _say("1. Test certificate for NIP %s -> XAdES login -> POST /tokens ..." % nip)
        token = bootstrap.obtain_test_token(url, nip)
        _say("   got a KSeF token (%d characters, not shown)" % len(token))

        _say("2. Logging in with the KSeF token ...")
        client = KSeFClient(env)
        tokens = client.authenticate_with_token(nip, token)
        _say("   access token valid until %s" % tokens.access_valid_until)

        _say("3. Opening an online session (FA (3)) ...")
        session = client.open_online_session()
        _say("   session %s" % session.reference_number)

        _say("4. Sending %s, issued today (%d bytes, SHA-256 %s) ..." % (
            os.path.basename(invoice_path), len(invoice), crypto.sha256_b64(invoice)))
        sent = session.send_invoice(invoice)
        _say("   invoice reference %s" % sent.reference_number)

        status = session.wait_for_invoice(sent.reference_number, timeout=60)
        status.raise_for_rejection()
        _say("5. Accepted. KSeF number: %s (mode %s, acquired %s)" % (
            status.ksef_number, status.invoicing_mode, status.acquisition_date))

        upo = client.get_invoice_upo(session.reference_number,
                                     invoice_ref=sent.reference_number)
        os.makedirs(out_dir, exist_ok=True)
        upo_path = os.path.join(out_dir, "UPO-%s.xml" % status.ksef_number)
        with open(upo_path, "wb") as handle:
            handle.write(upo)
        _say("   UPO saved to %s (%d bytes)" % (upo_path, len(upo)))

        session.close()
        client.logout()
        _say("6. Session closed. Done in %.2f s." % (time.monotonic() - started))
        return {"ksef_number": status.ksef_number, "upo_path": upo_path}
    finally:
        if emulator is not None:
            emulator.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m ksef demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="KSeF API base URL (default: start the embedded emulator)")
    parser.add_argument("--nip", default="9999999999",
                        help="context NIP; must be the seller NIP of the invoice (default %(default)s)")
    parser.add_argument("--invoice", default=DEFAULT_INVOICE, help="FA(3) XML file to send")
    parser.add_argument("--out", default="demo-output", help="folder for the UPO")
    parser.add_argument("--schema-dir", help="FA(3) XSD folder for the embedded emulator")
    args = parser.parse_args(argv)
    if args.url and args.url.rstrip("/") == environments.PROD.api_url:
        parser.error("the demo never runs against production")
    if not os.path.exists(args.invoice):
        parser.error("invoice file not found: %s (pass --invoice FILE)" % args.invoice)
    try:
        run(args.url, args.nip, args.invoice, args.out, args.schema_dir)
    except KSeFError as exc:
        _say("KSeF error: %s" % exc)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
