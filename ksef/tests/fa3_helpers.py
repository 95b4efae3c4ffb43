"""Shared fixtures for the FA(3) tests (not a test module)."""
from datetime import date, datetime, timezone
from decimal import Decimal as D
from pathlib import Path

from ksef.fa3 import Address, Buyer, Contact, Invoice, InvoiceLine, Seller
from ksef.nip import make_nip

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "ksef"
SCHEMA_DIR = SHARED / "schemas" / "FA"
SAMPLES_DIR = SHARED / "samples" / "fa3"

SELLER_NIP = make_nip("526587763")
BUYER_NIP = make_nip("111111111") or make_nip("123456789")


def sample_files():
    return sorted(SAMPLES_DIR.glob("*.xml"))


def make_invoice(n_lines=3, **kw):
    lines = []
    for i in range(n_lines):
        qty = D(i % 5 + 1)
        price = D("19.99") + D(i)
        rate = ("23", "8", "5")[i % 3]
        lines.append(InvoiceLine(name="Product %d" % (i + 1), unit="szt.", quantity=qty,
                                 unit_price_net=price, net_amount=qty * price, vat_rate=rate,
                                 index="IDX-%04d" % i))
    values = dict(
        number="FV/2026/02/001", issue_date=date(2026, 2, 15), sale_date=date(2026, 2, 14),
        created_at=datetime(2026, 2, 15, 9, 30, tzinfo=timezone.utc), place_of_issue="Warszawa",
        system_info="l10n_pl_ksef tests",
        seller=Seller(nip=SELLER_NIP, name="ACME sp. z o.o.",
                      address=Address("PL", "ul. Prosta 1", "00-001 Warszawa"),
                      contacts=[Contact(email="biuro@acme.pl", phone="221234567")]),
        buyer=Buyer(nip=BUYER_NIP, name="Jan Kowalski F.H.U.",
                    address=Address("PL", "ul. Polna 1", "00-002 Warszawa")),
        lines=lines,
    )
    values.update(kw)
    return Invoice(**values)
