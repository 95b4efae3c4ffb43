"""Benchmark (not a test): FA(3) build + XSD validation and parse throughput, one core.

    python bench/bench_fa3.py [--seconds 3] [--lines 20] [--schema-dir DIR]

Prints invoices per second for: build only, build + XSD validation (what
``build_invoice_xml`` does by default), business checks, parse, and XSD validation of
bytes (what the emulator does on receipt). Target: >= 500 invoices/s build+validate.
"""
import argparse
import os
import sys
import time
from datetime import date, datetime, timezone
from decimal import Decimal as D

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from ksef.fa3 import (  # noqa: E402 - after the sys.path tweak
    Address,
    BankAccount,
    Buyer,
    Contact,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentTerm,
    Seller,
    build_invoice_xml,
    check_invoice,
    compute_totals,
    load_schema,
    parse_invoice_xml,
    validate_xml,
)


def make_invoice(n_lines, seq=0):
    lines = []
    for i in range(n_lines):
        qty = D(i % 7 + 1)
        price = (D("12.34") + D(i) * D("1.11")).quantize(D("0.01"))
        lines.append(InvoiceLine(
            name="Towar testowy numer %d - opis pozycji" % (i + 1), unit="szt.", quantity=qty,
            unit_price_net=price, net_amount=qty * price, vat_rate=("23", "8", "5", "0 KR")[i % 4],
            index="IDX-%05d" % i, gtin="5901234123457", uuid="line-%d-%d" % (seq, i)))
    inv = Invoice(
        number="FV/%06d/2026" % seq, issue_date=date(2026, 2, 15), sale_date=date(2026, 2, 14),
        created_at=datetime(2026, 2, 15, 9, 30, tzinfo=timezone.utc), place_of_issue="Warszawa",
        system_info="bench",
        seller=Seller(nip="5265877635", name="ACME sp. z o.o.",
                      address=Address("PL", "ul. Prosta 1", "00-001 Warszawa"),
                      contacts=[Contact(email="biuro@acme.pl", phone="221234567")]),
        buyer=Buyer(nip="1111111111", name="Jan Kowalski F.H.U.",
                    address=Address("PL", "ul. Polna 1", "00-002 Warszawa")),
        lines=lines,
        payment=Payment(terms=[PaymentTerm(due_date=date(2026, 3, 1))], form=6,
                        bank_accounts=[BankAccount("PL61109010140000071219812874")]),
    )
    inv.totals = compute_totals(inv)
    return inv


def rate(label, func, seconds):
    func()  # warm-up
    count, start = 0, time.perf_counter()
    while True:
        func()
        count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
    print("%-44s %9.0f invoices/s  (%.3f ms each)" % (label, count / elapsed, 1000 * elapsed / count))
    return count / elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--lines", type=int, default=20)
    parser.add_argument("--schema-dir", default=os.environ.get("KSEF_SCHEMA_DIR") or os.path.join(
        ROOT, "..", "shared", "ksef", "schemas", "FA"))
    args = parser.parse_args()
    t0 = time.perf_counter()
    schema = load_schema(args.schema_dir)
    print("schema compile: %.1f ms (once per process, cached)" % ((time.perf_counter() - t0) * 1000))
    inv = make_invoice(args.lines)
    data = build_invoice_xml(inv, schema=schema)
    print("invoice: %d lines, %d bytes" % (args.lines, len(data)))
    rate("build only (no checks, no XSD)",
         lambda: build_invoice_xml(inv, validate=False, checks=False), args.seconds)
    rate("build + business checks", lambda: build_invoice_xml(inv, validate=False), args.seconds)
    bv = rate("build + checks + XSD validation (default)",
              lambda: build_invoice_xml(inv, schema=schema), args.seconds)
    rate("business checks only", lambda: check_invoice(inv), args.seconds)
    rate("parse (xmlsafe + data classes)", lambda: parse_invoice_xml(data), args.seconds)
    rate("validate bytes (emulator: parse + XSD)", lambda: validate_xml(data, schema), args.seconds)
    print("target build+validate >= 500/s: %s" % ("OK" if bv >= 500 else "BELOW TARGET"))


if __name__ == "__main__":
    main()
