"""FA(3) XML builder: ``Invoice`` -> bytes, in schema order, checked before it leaves.

Public API::

    build_invoice_xml(invoice, validate=True, schema=None, *, checks=True,
                      strict=True, pretty=True) -> bytes
    build_invoice_tree(invoice) -> lxml.etree._Element        # no checks at all

``validate``: ``True`` -> XSD check with ``load_schema()`` (the shipped schema, or the
folder of ``KSEF_SCHEMA_DIR``; ``SchemaUnavailableError`` when that folder is unusable);
``"if-available"`` -> the same, but an unusable ``KSEF_SCHEMA_DIR`` falls back to the
shipped schema (the invoice is always checked); ``False`` -> no XSD check. ``schema``: an
``lxml.etree.XMLSchema`` (e.g. from ``load_schema``); default ``load_schema()`` (cached).
``checks``: business checks (``check_invoice``: totals vs lines, P_15, correction
reference, NIP checksums when ``strict``).

Raises ``InvoiceValidationError`` (``.problems``: list of ``Problem`` strings with
``.raw`` XSD text) or ``InvoiceTooLargeError`` (over 1,000,000 bytes; 3,000,000
with a ``Zalacznik``). Output: UTF-8 without BOM, ``<?xml version="1.0"
encoding="UTF-8"?>``, default namespace FA(3), deterministic (same data -> same
bytes; ``DataWytworzeniaFa`` comes from ``invoice.created_at``, never the clock).
When ``invoice.totals`` is None the totals are computed from the lines.
"""
from datetime import date, datetime, timezone
from decimal import Decimal

from lxml import etree

from ..errors import InvoiceTooLargeError, InvoiceValidationError, SchemaUnavailableError
from ..i18n import _
from ..nip import normalize_nip
from . import codes
from .checks import check_invoice, compute_totals
from .schema import Problem, load_schema, shipped_schema, validate_tree

_Q = "{%s}" % codes.NS
_SUB = etree.SubElement
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


class _BuildError(Exception):
    """Data that cannot be expressed in FA(3): ``template`` (a full sentence) and ``params``."""

    def __init__(self, template, params=None):
        self.template, self.params = template, dict(params or {})
        super().__init__(template % self.params if self.params else template)


def _text(value):
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "2"
    if isinstance(value, Decimal):
        text = format(value, "f")
        return "0" if text in ("-0", "-0.0", "-0.00") else text
    if isinstance(value, float):
        raise _BuildError(_("An amount is a float (%(value)r); amounts must be Decimal."),
                          {"value": value})
    if isinstance(value, datetime):
        return _datetime_text(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _datetime_text(value):
    if value.tzinfo is not None and value.utcoffset() == timezone.utc.utcoffset(None):
        return value.replace(tzinfo=None).isoformat() + "Z"
    return value.isoformat()


def _el(parent, name, value):
    """Append <name>value</name> when value is not None / not empty."""
    if value is None or value == "":
        return None
    node = _SUB(parent, _Q + name)
    node.text = _text(value)
    return node


def _flag(parent, name, on):
    """Append <name>1</name> for a set single-choice flag (TWybor1)."""
    if on:
        _SUB(parent, _Q + name).text = "1"


def _raw(parent, raw):
    if raw is None:
        return
    node = etree.fromstring(raw.xml, etree.XMLParser(resolve_entities=False, no_network=True))
    parent.append(node)


def _address(parent, name, addr):
    if addr is None:
        return
    node = _SUB(parent, _Q + name)
    _el(node, "KodKraju", addr.country)
    _el(node, "AdresL1", addr.line1)
    _el(node, "AdresL2", addr.line2)
    _el(node, "GLN", addr.gln)


def _contacts(parent, contacts, email_tag="Email", phone_tag="Telefon"):
    for contact in contacts or ():
        node = _SUB(parent, _Q + "DaneKontaktowe")
        _el(node, email_tag, contact.email)
        _el(node, phone_tag, contact.phone)


def _nip(value):
    return normalize_nip(value) if value else value


def _buyer_ids(node, party, allow_internal=False):
    ids = _SUB(node, _Q + "DaneIdentyfikacyjne")
    if party.nip:
        _el(ids, "NIP", _nip(party.nip))
    elif allow_internal and getattr(party, "internal_id", None):
        _el(ids, "IDWew", party.internal_id)
    elif party.eu_code or party.eu_vat:
        _el(ids, "KodUE", party.eu_code)
        _el(ids, "NrVatUE", party.eu_vat)
    elif party.foreign_id:
        _el(ids, "KodKraju", party.foreign_country)
        _el(ids, "NrID", party.foreign_id)
    else:
        _flag(ids, "BrakID", True)
    _el(ids, "Nazwa", party.name)


def _seller(root, s):
    node = _SUB(root, _Q + "Podmiot1")
    _el(node, "PrefiksPodatnika", s.vat_prefix)
    _el(node, "NrEORI", s.eori)
    ids = _SUB(node, _Q + "DaneIdentyfikacyjne")
    _el(ids, "NIP", _nip(s.nip))
    _el(ids, "Nazwa", s.name)
    _address(node, "Adres", s.address)
    _address(node, "AdresKoresp", s.correspondence_address)
    _contacts(node, s.contacts)
    _el(node, "StatusInfoPodatnika", s.taxpayer_status)


def _buyer(root, b):
    node = _SUB(root, _Q + "Podmiot2")
    _el(node, "NrEORI", b.eori)
    _buyer_ids(node, b)
    _address(node, "Adres", b.address)
    _address(node, "AdresKoresp", b.correspondence_address)
    _contacts(node, b.contacts)
    _el(node, "NrKlienta", b.customer_number)
    _el(node, "IDNabywcy", b.buyer_id)
    _el(node, "JST", bool(b.jst))
    _el(node, "GV", bool(b.gv))


def _third_party(root, p):
    node = _SUB(root, _Q + "Podmiot3")
    _el(node, "IDNabywcy", p.buyer_id)
    _el(node, "NrEORI", p.eori)
    _buyer_ids(node, p, allow_internal=True)
    _address(node, "Adres", p.address)
    _address(node, "AdresKoresp", p.correspondence_address)
    _contacts(node, p.contacts)
    if p.role is not None:
        _el(node, "Rola", p.role)
    else:
        _flag(node, "RolaInna", True)
        _el(node, "OpisRoli", p.other_role)
    _el(node, "Udzial", p.share)
    _el(node, "NrKlienta", p.customer_number)


def _totals(fa, t):
    for bucket in ("1", "2", "3", "4"):
        net = getattr(t, "p_13_" + bucket)
        if net is not None:
            _el(fa, "P_13_" + bucket, net)
            _el(fa, "P_14_" + bucket, getattr(t, "p_14_" + bucket))
            _el(fa, "P_14_%sW" % bucket, getattr(t, "p_14_%sw" % bucket))
    if t.p_13_5 is not None:
        _el(fa, "P_13_5", t.p_13_5)
        _el(fa, "P_14_5", t.p_14_5)
    for bucket in ("6_1", "6_2", "6_3", "7", "8", "9", "10", "11"):
        _el(fa, "P_13_" + bucket, getattr(t, "p_13_" + bucket))
    _el(fa, "P_15", t.p_15)


def _annotations(fa, a):
    node = _SUB(fa, _Q + "Adnotacje")
    _el(node, "P_16", bool(a.cash_accounting))
    _el(node, "P_17", bool(a.self_billing))
    _el(node, "P_18", bool(a.reverse_charge))
    _el(node, "P_18A", bool(a.split_payment))
    zw = _SUB(node, _Q + "Zwolnienie")
    if a.exemption:
        _flag(zw, "P_19", True)
        basis = (a.exemption_basis or "A").upper()
        if basis not in ("A", "B", "C"):
            raise _BuildError(_("The exemption basis must be 'A' (Polish act), 'B' (EU "
                                "directive) or 'C' (other), not %(value)r."),
                              {"value": a.exemption_basis})
        _el(zw, "P_19" + basis, a.exemption)
    else:
        _flag(zw, "P_19N", True)
    if a.new_transport_xml is not None:
        _raw(node, a.new_transport_xml)
    else:
        _flag(_SUB(node, _Q + "NoweSrodkiTransportu"), "P_22N", True)
    _el(node, "P_23", bool(a.simplified_triangular))
    pm = _SUB(node, _Q + "PMarzy")
    if a.margin:
        if a.margin not in ("2", "3_1", "3_2", "3_3"):
            raise _BuildError(_("The margin scheme must be '2' (travel), '3_1' (second-hand "
                                "goods), '3_2' (works of art) or '3_3' (antiques), not "
                                "%(value)r."), {"value": a.margin})
        _flag(pm, "P_PMarzy", True)
        _flag(pm, "P_PMarzy_" + a.margin, True)
    else:
        _flag(pm, "P_PMarzyN", True)


def _correction(fa, c):
    _el(fa, "PrzyczynaKorekty", c.reason)
    _el(fa, "TypKorekty", c.type)
    for ref in c.invoices:
        node = _SUB(fa, _Q + "DaneFaKorygowanej")
        _el(node, "DataWystFaKorygowanej", ref.issue_date)
        _el(node, "NrFaKorygowanej", ref.number)
        if ref.ksef_number:
            _flag(node, "NrKSeF", True)
            _el(node, "NrKSeFFaKorygowanej", ref.ksef_number)
        else:
            _flag(node, "NrKSeFN", True)
    _el(fa, "OkresFaKorygowanej", c.period)
    _el(fa, "NrFaKorygowany", c.corrected_number)
    _raw(fa, c.seller_before_xml)
    for raw in c.buyer_before_xml:
        _raw(fa, raw)
    if c.amount_before is not None:
        _el(fa, "P_15ZK", c.amount_before)
        _el(fa, "KursWalutyZK", c.exchange_rate_before)


def _line(fa, line, position):
    node = _SUB(fa, _Q + "FaWiersz")
    _el(node, "NrWierszaFa", line.number if line.number is not None else position)
    _el(node, "UU_ID", line.uuid)
    _el(node, "P_6A", line.date)
    _el(node, "P_7", line.name)
    _el(node, "Indeks", line.index)
    _el(node, "GTIN", line.gtin)
    _el(node, "PKWiU", line.pkwiu)
    _el(node, "CN", line.cn)
    _el(node, "PKOB", line.pkob)
    _el(node, "P_8A", line.unit)
    _el(node, "P_8B", line.quantity)
    _el(node, "P_9A", line.unit_price_net)
    _el(node, "P_9B", line.unit_price_gross)
    _el(node, "P_10", line.discount)
    _el(node, "P_11", line.net_amount)
    _el(node, "P_11A", line.gross_amount)
    _el(node, "P_11Vat", line.vat_amount)
    _el(node, "P_12", line.vat_rate)
    _el(node, "P_12_XII", line.oss_rate)
    _flag(node, "P_12_Zal_15", line.annex15)
    _el(node, "KwotaAkcyzy", line.excise_amount)
    _el(node, "GTU", line.gtu)
    _el(node, "Procedura", line.procedure)
    _el(node, "KursWaluty", line.exchange_rate)
    _flag(node, "StanPrzed", line.before_correction)


def _settlement(fa, s):
    node = _SUB(fa, _Q + "Rozliczenie")
    for item in s.charges:
        sub = _SUB(node, _Q + "Obciazenia")
        _el(sub, "Kwota", item.amount)
        _el(sub, "Powod", item.reason)
    _el(node, "SumaObciazen", s.charges_total)
    for item in s.deductions:
        sub = _SUB(node, _Q + "Odliczenia")
        _el(sub, "Kwota", item.amount)
        _el(sub, "Powod", item.reason)
    _el(node, "SumaOdliczen", s.deductions_total)
    if s.to_pay is not None:
        _el(node, "DoZaplaty", s.to_pay)
    else:
        _el(node, "DoRozliczenia", s.to_settle)


def _form(node, form, other):
    if form is not None:
        _el(node, "FormaPlatnosci", form)
    elif other:
        _flag(node, "PlatnoscInna", True)
        _el(node, "OpisPlatnosci", other)


def _bank_account(parent, name, acc):
    node = _SUB(parent, _Q + name)
    _el(node, "NrRB", acc.number)
    _el(node, "SWIFT", acc.swift)
    _el(node, "RachunekWlasnyBanku", acc.bank_own_account)
    _el(node, "NazwaBanku", acc.bank_name)
    _el(node, "OpisRachunku", acc.description)


def _payment(fa, p):
    node = _SUB(fa, _Q + "Platnosc")
    if p.paid:
        _flag(node, "Zaplacono", True)
        _el(node, "DataZaplaty", p.paid_date)
    elif p.partial_payments or p.partial_flag:
        _el(node, "ZnacznikZaplatyCzesciowej", p.partial_flag or 1)
        for part in p.partial_payments:
            sub = _SUB(node, _Q + "ZaplataCzesciowa")
            _el(sub, "KwotaZaplatyCzesciowej", part.amount)
            _el(sub, "DataZaplatyCzesciowej", part.date)
            _form(sub, part.form, part.other_form)
    for term in p.terms:
        sub = _SUB(node, _Q + "TerminPlatnosci")
        _el(sub, "Termin", term.due_date)
        if term.amount is not None or term.unit or term.start_event:
            desc = _SUB(sub, _Q + "TerminOpis")
            _el(desc, "Ilosc", term.amount)
            _el(desc, "Jednostka", term.unit)
            _el(desc, "ZdarzeniePoczatkowe", term.start_event)
    _form(node, p.form, p.other_form)
    for acc in p.bank_accounts:
        _bank_account(node, "RachunekBankowy", acc)
    for acc in p.factor_bank_accounts:
        _bank_account(node, "RachunekBankowyFaktora", acc)
    if p.discount_terms or p.discount_amount:
        sub = _SUB(node, _Q + "Skonto")
        _el(sub, "WarunkiSkonta", p.discount_terms)
        _el(sub, "WysokoscSkonta", p.discount_amount)
    _el(node, "LinkDoPlatnosci", p.link)
    _el(node, "IPKSeF", p.ipksef)


def _terms(fa, t):
    node = _SUB(fa, _Q + "WarunkiTransakcji")
    for ref in t.contracts:
        sub = _SUB(node, _Q + "Umowy")
        _el(sub, "DataUmowy", ref.date)
        _el(sub, "NrUmowy", ref.number)
    for ref in t.orders:
        sub = _SUB(node, _Q + "Zamowienia")
        _el(sub, "DataZamowienia", ref.date)
        _el(sub, "NrZamowienia", ref.number)
    for batch in t.batch_numbers:
        _el(node, "NrPartiiTowaru", batch)
    _el(node, "WarunkiDostawy", t.delivery_terms)
    if t.contract_rate is not None or t.contract_currency:
        _el(node, "KursUmowny", t.contract_rate)
        _el(node, "WalutaUmowna", t.contract_currency)
    for raw in t.transport_xml:
        _raw(node, raw)
    _flag(node, "PodmiotPosredniczacy", t.intermediary)


def _order(fa, o):
    node = _SUB(fa, _Q + "Zamowienie")
    _el(node, "WartoscZamowienia", o.total)
    for position, line in enumerate(o.lines, 1):
        sub = _SUB(node, _Q + "ZamowienieWiersz")
        _el(sub, "NrWierszaZam", line.number if line.number is not None else position)
        _el(sub, "UU_IDZ", line.uuid)
        _el(sub, "P_7Z", line.name)
        _el(sub, "IndeksZ", line.index)
        _el(sub, "GTINZ", line.gtin)
        _el(sub, "PKWiUZ", line.pkwiu)
        _el(sub, "CNZ", line.cn)
        _el(sub, "PKOBZ", line.pkob)
        _el(sub, "P_8AZ", line.unit)
        _el(sub, "P_8BZ", line.quantity)
        _el(sub, "P_9AZ", line.unit_price_net)
        _el(sub, "P_11NettoZ", line.net_amount)
        _el(sub, "P_11VatZ", line.vat_amount)
        _el(sub, "P_12Z", line.vat_rate)
        _el(sub, "P_12Z_XII", line.oss_rate)
        _flag(sub, "P_12Z_Zal_15", line.annex15)
        _el(sub, "GTUZ", line.gtu)
        _el(sub, "ProceduraZ", line.procedure)
        _el(sub, "KwotaAkcyzyZ", line.excise_amount)
        _flag(sub, "StanPrzedZ", line.before_correction)


def _footer(root, f):
    node = _SUB(root, _Q + "Stopka")
    for text in f.texts:
        _el(_SUB(node, _Q + "Informacje"), "StopkaFaktury", text)
    for reg in f.registries:
        sub = _SUB(node, _Q + "Rejestry")
        _el(sub, "PelnaNazwa", reg.full_name)
        _el(sub, "KRS", reg.krs)
        _el(sub, "REGON", reg.regon)
        _el(sub, "BDO", reg.bdo)


def _build(inv):
    root = etree.Element(_Q + "Faktura", nsmap=codes.NSMAP)
    head = _SUB(root, _Q + "Naglowek")
    form = _SUB(head, _Q + "KodFormularza", kodSystemowy=codes.SYSTEM_CODE,
                wersjaSchemy=codes.SCHEMA_VERSION)
    form.text = codes.FORM_CODE
    _el(head, "WariantFormularza", codes.FORM_VARIANT)
    if inv.created_at is None:
        raise _BuildError(_("The creation date and time (DataWytworzeniaFa, Invoice.created_at) "
                            "is missing; pass it (the builder never reads the clock)."))
    _el(head, "DataWytworzeniaFa", inv.created_at)
    _el(head, "SystemInfo", inv.system_info)

    _seller(root, inv.seller)
    _buyer(root, inv.buyer)
    for party in inv.third_parties:
        _third_party(root, party)
    _raw(root, inv.authorized_party_xml)

    fa = _SUB(root, _Q + "Fa")
    _el(fa, "KodWaluty", inv.currency)
    _el(fa, "P_1", inv.issue_date)
    _el(fa, "P_1M", inv.place_of_issue)
    _el(fa, "P_2", inv.number)
    for wz in inv.delivery_notes:
        _el(fa, "WZ", wz)
    if inv.sale_date is not None:
        _el(fa, "P_6", inv.sale_date)
    elif inv.period_from is not None or inv.period_to is not None:
        period = _SUB(fa, _Q + "OkresFa")
        _el(period, "P_6_Od", inv.period_from)
        _el(period, "P_6_Do", inv.period_to)
    totals = inv.totals if inv.totals is not None else compute_totals(inv)
    _totals(fa, totals)
    _el(fa, "KursWalutyZ", inv.advance_exchange_rate)
    _annotations(fa, inv.annotations)
    _el(fa, "RodzajFaktury", inv.kind)
    if inv.correction is not None:
        _correction(fa, inv.correction)
    for adv in inv.partial_advances:
        sub = _SUB(fa, _Q + "ZaliczkaCzesciowa")
        _el(sub, "P_6Z", adv.date)
        _el(sub, "P_15Z", adv.amount)
        _el(sub, "KursWalutyZW", adv.exchange_rate)
    _flag(fa, "FP", inv.receipt_invoice)
    _flag(fa, "TP", inv.related_parties)
    for info in inv.additional_info:
        sub = _SUB(fa, _Q + "DodatkowyOpis")
        _el(sub, "NrWiersza", info.line_number)
        _el(sub, "Klucz", info.key)
        _el(sub, "Wartosc", info.value)
    for ref in inv.advance_invoices:
        sub = _SUB(fa, _Q + "FakturaZaliczkowa")
        if ref.ksef_number:
            _el(sub, "NrKSeFFaZaliczkowej", ref.ksef_number)
        else:
            _flag(sub, "NrKSeFZN", True)
            _el(sub, "NrFaZaliczkowej", ref.number)
    _flag(fa, "ZwrotAkcyzy", inv.excise_refund)
    for position, line in enumerate(inv.lines, 1):
        _line(fa, line, position)
    if inv.settlement is not None:
        _settlement(fa, inv.settlement)
    if inv.payment is not None:
        _payment(fa, inv.payment)
    if inv.transaction_terms is not None:
        _terms(fa, inv.transaction_terms)
    if inv.order is not None:
        _order(fa, inv.order)
    if inv.footer is not None and (inv.footer.texts or inv.footer.registries):
        _footer(root, inv.footer)
    _raw(root, inv.attachment_xml)
    for raw in inv.unknown_xml:
        _raw(root, raw)
    return root


def build_invoice_tree(invoice):
    """Build the ``Faktura`` element (no business check, no XSD check).

    Raises InvoiceValidationError when the data cannot be expressed at all
    (a float amount, a missing creation date ...).
    """
    try:
        root = _build(invoice)
    except _BuildError as exc:
        raise InvoiceValidationError(problems=[Problem(exc.template, params=exc.params,
                                                       code="data")]) from None
    if any(r is not None for r in (invoice.authorized_party_xml, invoice.attachment_xml)) or \
            invoice.unknown_xml or invoice.annotations.new_transport_xml is not None or (
            invoice.correction is not None and (invoice.correction.seller_before_xml is not None
                                                or invoice.correction.buyer_before_xml)) or (
            invoice.transaction_terms is not None and invoice.transaction_terms.transport_xml):
        etree.cleanup_namespaces(root, top_nsmap=codes.NSMAP)
    return root


def serialize(root, pretty=True):
    """Bytes of a ``Faktura`` element: declaration + UTF-8, no BOM."""
    return XML_DECLARATION + etree.tostring(root, encoding="UTF-8", xml_declaration=False,
                                            pretty_print=pretty)


def build_invoice_xml(invoice, validate=True, schema=None, *, checks=True, strict=True,
                      pretty=True):
    """Return the FA(3) XML of ``invoice`` as bytes; see the module docstring."""
    problems = list(check_invoice(invoice, strict=strict)) if checks else []
    if any(p.code == "float" for p in problems):
        raise InvoiceValidationError(problems=problems)
    root = build_invoice_tree(invoice)
    data = serialize(root, pretty=pretty)
    limit = (codes.MAX_INVOICE_BYTES_WITH_ATTACHMENT if invoice.attachment_xml is not None
             else codes.MAX_INVOICE_BYTES)
    if len(data) > limit:
        if invoice.attachment_xml is not None:
            message = _("The invoice XML has %(size)s bytes; KSeF accepts at most %(limit)s bytes "
                        "with an attachment. Split the invoice or shorten its descriptions.")
        else:
            message = _("The invoice XML has %(size)s bytes; KSeF accepts at most %(limit)s bytes "
                        "for an invoice without attachment. Split the invoice or shorten its "
                        "descriptions.")
        raise InvoiceTooLargeError(
            message, params={"size": len(data), "limit": limit},
            problems=[Problem(_("The invoice is too large (%(size)s bytes, limit %(limit)s)."),
                              params={"size": len(data), "limit": limit}, code="size")],
            size=len(data), limit=limit)
    if validate:
        if schema is None:
            try:
                schema = load_schema()
            except SchemaUnavailableError:
                if validate != "if-available":
                    raise
                schema = shipped_schema()
        problems.extend(validate_tree(root, schema))
    if problems:
        raise InvoiceValidationError(problems=problems)
    return data
