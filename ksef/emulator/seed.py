"""Seeding the emulator with purchase invoices (issued TO a buyer by other companies).

Used by tests and benchmarks of the purchase sync. Every invoice is a real FA(3) document built
with ``ksef.fa3.build_invoice_xml`` (the first ones of each kind are XSD-checked when the emulator
has a schema directory), stored as if its seller had sent it in an online session that is now
closed with a session UPO, with a KSeF number and complete metadata.
"""
import datetime
import random
import secrets
from decimal import Decimal

from ..crypto import b64encode, sha256_b64
from ..ksef_number import make_ksef_number
from ..nip import make_nip
from .common import UTC, WARSAW, warsaw_date
from .fa_reader import read_fields
from .handlers.sessions import SESSION_STATUS, _finish_session, _new_link, _status

PRODUCTS = [("Papier ksero A4 80g", "ryza", "23"), ("Toner HP 85A", "szt.", "23"),
            ("Usługa serwisowa IT", "godz.", "23"), ("Kawa ziarnista 1 kg", "szt.", "5"),
            ("Woda mineralna 1,5 l", "zgrz.", "5"), ("Usługa noclegowa", "doba", "8"),
            ("Przejazd autokarem", "os.", "8"), ("Szkolenie BHP", "os.", "zw"),
            ("Usługa medyczna", "szt.", "zw"), ("Kabel HDMI 2 m", "szt.", "23"),
            ("Krzesło biurowe", "szt.", "23"), ("Książka fachowa", "szt.", "5")]
COMPANY_WORDS = ["Hurtownia", "Biuro", "Serwis", "Handel", "Usługi", "Transport", "Media", "Tech"]


def seller_nips(count, seed=7):
    rng = random.Random(seed)
    found = []
    while len(found) < count:
        nip = make_nip(str(rng.randint(100000000, 999999999)))
        if nip and nip[1:3] != "00" and nip not in found:     # the FA(3) TNIP pattern
            found.append(nip)
    return found


def _lines(rng, count):
    from ..fa3 import InvoiceLine
    lines = []
    for _ in range(count):
        name, unit, rate = rng.choice(PRODUCTS)
        qty = Decimal(rng.randint(1, 20))
        price = Decimal(rng.randint(100, 50000)) / 100
        lines.append(InvoiceLine(name=name, unit=unit, quantity=qty, unit_price_net=price,
                                 net_amount=(qty * price).quantize(Decimal("0.01")), vat_rate=rate))
    return lines


def _invoice(rng, seller_nip, seller_name, buyer_nip, number, issue, lines, paid, correction=None):
    from ..fa3 import (
        Address,
        Annotations,
        Buyer,
        CorrectedInvoice,
        Correction,
        Invoice,
        InvoiceLine,
        Payment,
        PaymentTerm,
        Seller,
    )
    kind = "VAT"
    corr = None
    if correction is not None:
        kind = "KOR"
        orig_number, orig_date, orig_ksef, orig_lines = correction
        before = orig_lines[0]
        after = InvoiceLine(name=before.name, unit=before.unit, quantity=before.quantity,
                            unit_price_net=(before.unit_price_net * Decimal("0.9")).quantize(Decimal("0.01")),
                            vat_rate=before.vat_rate)
        after.net_amount = (after.quantity * after.unit_price_net).quantize(Decimal("0.01"))
        lines = [InvoiceLine(**{**before.__dict__, "before_correction": True}), after]
        corr = Correction(reason="Rabat potransakcyjny 10%", type=2,
                          invoices=[CorrectedInvoice(orig_date, orig_number, orig_ksef)])
    exempt = any(line.vat_rate == "zw" for line in lines)
    payment = Payment(paid=True, paid_date=issue, form=6) if paid else Payment(
        form=6, terms=[PaymentTerm(due_date=issue + datetime.timedelta(days=14))])
    return Invoice(
        number=number, issue_date=issue, sale_date=issue, kind=kind, place_of_issue="Warszawa",
        created_at=datetime.datetime.combine(issue, datetime.time(9, 0), tzinfo=UTC),
        system_info="KSeF emulator seed",
        seller=Seller(nip=seller_nip, name=seller_name,
                      address=Address("PL", "ul. Handlowa %d" % rng.randint(1, 200), "00-950 Warszawa")),
        buyer=Buyer(nip=buyer_nip, name="Nabywca %s sp. z o.o." % buyer_nip,
                    address=Address("PL", "ul. Zakupowa 1", "31-000 Kraków")),
        lines=lines, correction=corr, payment=payment,
        annotations=Annotations(exemption="art. 43 ust. 1 pkt 29 ustawy o VAT") if exempt else Annotations())


def seed_incoming_invoices(emu, buyer_nip, count, sellers=None, start=None, offline_late=0, lines=3,
                           seed=None):
    """Create ``count`` FA(3) invoices issued TO ``buyer_nip`` (see Emulator.seed_incoming_invoices)."""
    from ..fa3 import build_invoice_xml
    from ..fa3.schema import load_schema
    rng = random.Random(seed if seed is not None else secrets.randbits(32))
    sellers = list(sellers or seller_nips(max(1, min(50, count // 20 or 1)), rng.randint(0, 10 ** 6)))
    schema = load_schema(emu.schema_dir) if emu.schema_dir else None
    validated = {"VAT": 0, "KOR": 0}
    now = datetime.datetime.now(UTC).timestamp()
    regular = max(0, count - offline_late)
    if start is None:
        begin = now - max(60.0, regular * 0.01)
    else:
        begin = start.timestamp() if isinstance(start, datetime.datetime) else float(start)
    # never below the current HWM: what is at or before it is final by definition
    if emu.hwm_fixed is not None:
        begin = max(begin, emu.hwm_fixed + 0.001)
    # never before the fixed HWM, even when seeding right after advance_hwm()
    last = max(now - 0.05, begin + 0.001 * max(1, regular))
    step = (last - begin) / max(1, regular)
    numbers = []
    sessions = {}
    history = {}
    serial = emu.__dict__.setdefault("_seed_serial", [0])
    for index in range(count):
        late = index >= regular
        seller = sellers[index % len(sellers)]
        acquired = now - 0.04 + (index - regular) * 0.04 / max(1, offline_late) if late \
            else begin + index * step
        if late and emu.hwm_fixed is not None:
            acquired = max(acquired, emu.hwm_fixed + 0.001 * (index - regular + 1))
        day = warsaw_date(acquired)
        issue = day - datetime.timedelta(days=rng.randint(14, 30)) if late else day
        serial[0] += 1
        number = "FV/%s/%06d" % (seller[-4:], serial[0])
        earlier = history.get(seller)
        correction = None
        if earlier and rng.random() < 0.06 and not late:
            number = "KOR/%s/%06d" % (seller[-4:], serial[0])
            correction = earlier
        invoice = _invoice(rng, seller, "%s %s sp. z o.o." % (rng.choice(COMPANY_WORDS), seller[-4:]),
                           buyer_nip, number, issue, _lines(rng, lines), rng.random() < 0.3, correction)
        kind = invoice.kind
        check = schema is not None and validated[kind] < 3
        xml = build_invoice_xml(invoice, validate=check, schema=schema, pretty=False)
        validated[kind] += 1
        from .. import xmlsafe
        fields = read_fields(xmlsafe.parse(xml, what="seeded invoice"))
        session = sessions.get(seller)
        if session is None:
            session = _seller_session(emu, seller, begin if not late else acquired)
            sessions[seller] = session
        ksef_number = make_ksef_number(seller, day, secrets.token_hex(6).upper())
        ref = emu.new_reference("EE")
        inv = {"referenceNumber": ref, "sessionRef": session["referenceNumber"],
               "ordinalNumber": len(session["invoiceRefs"]) + 1, "invoiceHash": sha256_b64(xml),
               "invoiceSize": len(xml), "invoicingTs": acquired, "readyAt": acquired,
               "offlineMode": late, "hashOfCorrectedInvoice": None, "content": b64encode(xml),
               "status": _status({200: "Sukces"}, 200), "ksefNumber": ksef_number,
               "acquisitionTs": acquired, "permanentStorageTs": acquired,
               "invoicingMode": "Offline" if late or issue < day else "Online",
               "formCode": session["formCode"], "context": session["context"]}
        inv.update(fields)
        inv["upoLink"] = _new_link(emu, session["referenceNumber"], invoice=ref)
        session["invoiceRefs"].append(ref)
        emu.state.put("invoices", ref, inv)
        if correction is None:
            history[seller] = (number, issue, ksef_number, invoice.lines)
        numbers.append(ksef_number)
    for session in sessions.values():
        session["status"] = _status(SESSION_STATUS, 170)
        session["closedAt"] = now
        _finish_session(emu, session)
    dup = getattr(emu, "_dup_index", None)
    if dup is not None:
        emu._dup_index = None     # rebuilt on next use with the seeded invoices
    return numbers


def _seller_session(emu, seller, created):
    ref = emu.new_reference("SO")
    session = {"referenceNumber": ref, "type": "Online", "context": {"type": "Nip", "value": seller},
               "formCode": {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"},
               "status": {"code": 100, "description": "Sesja interaktywna otwarta"},
               "dateCreated": created, "dateUpdated": created, "validUntil": created + 12 * 3600,
               "closedAt": None, "aesKey": None, "iv": None, "invoiceRefs": [],
               "authRef": "seed", "ksefTokenReference": None,
               "authDocumentHash": sha256_b64(ref.encode()), "upoPages": [], "offlineMode": False}
    emu.state.put("sessions", ref, session)
    return session


def seed_raw_invoice(emu, buyer_nip, xml_bytes, seller_nip=None, invoice_number=None):
    """Store ``xml_bytes`` as it is (possibly hostile/broken) as an invoice issued to ``buyer_nip``
    -> KSeF number. Its metadata comes from the arguments, not from the document."""
    seller_nip = seller_nip or seller_nips(1, 99)[0]
    now = datetime.datetime.now(UTC).timestamp()
    day = warsaw_date(now)
    number = make_ksef_number(seller_nip, day, secrets.token_hex(6).upper())
    session = _seller_session(emu, seller_nip, now)
    session["status"] = {"code": 200, "description": "Sesja interaktywna przetworzona pomyślnie"}
    ref = emu.new_reference("EE")
    inv = {"referenceNumber": ref, "sessionRef": session["referenceNumber"], "ordinalNumber": 1,
           "invoiceHash": sha256_b64(xml_bytes), "invoiceSize": len(xml_bytes), "invoicingTs": now,
           "readyAt": now, "offlineMode": False, "hashOfCorrectedInvoice": None,
           "content": b64encode(xml_bytes), "status": {"code": 200, "description": "Sukces"},
           "ksefNumber": number, "acquisitionTs": now, "permanentStorageTs": now,
           "invoicingMode": "Online", "formCode": session["formCode"], "context": session["context"],
           "sellerNip": seller_nip, "sellerName": "Raw %s" % seller_nip,
           "buyerIdentifier": {"type": "Nip", "value": buyer_nip}, "buyerName": None,
           "issueDate": day.isoformat(), "invoiceNumber": invoice_number or "RAW/%s" % number[-6:],
           "rodzajFaktury": "VAT", "invoiceType": "Vat", "currency": "PLN", "netAmount": 0.0,
           "vatAmount": 0.0, "grossAmount": 0.0, "isSelfInvoicing": False, "hasAttachment": False,
           "thirdSubjects": []}
    session["invoiceRefs"].append(ref)
    emu.state.put("invoices", ref, inv)
    emu.state.put("sessions", session["referenceNumber"], session)
    return number


__all__ = ["seed_incoming_invoices", "seed_raw_invoice", "seller_nips", "WARSAW"]
