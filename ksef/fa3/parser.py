"""FA(3) XML -> ``Invoice`` (the same data classes the builder takes).

Public API::

    parse_invoice_xml(data: bytes, *, validate=False, schema=None,
                      max_bytes=3_000_000) -> Invoice
    validate_incoming(data: bytes, schema=None) -> list[Problem]     # [] = valid FA(3)
    parse_incoming_invoice_xml(data: bytes, schema=None) -> Invoice
        # XSD first, then mapping; raises IncomingInvoiceInvalid (every reason) or
        # XMLSecurityError (hostile, oversized, broken, not UTF-8)

The input goes through ``ksef.xmlsafe.parse`` (no DTD, no entities, no network,
size limit): hostile or oversized XML raises ``XMLSecurityError``. A document
that is not an FA(3) ``Faktura`` or has unreadable values (a date that is not a
date, an amount that is not a number) raises ``InvoiceValidationError`` with
readable problems. With ``validate=True`` the XSD is checked first (``schema`` or
``load_schema()``, i.e. the shipped schema), reporting every structural problem
(``schema.validate_all``). Invoices received from KSeF go through
``parse_incoming_invoice_xml``: the same, raising ``IncomingInvoiceInvalid``.

Amounts keep their exact text value as ``Decimal`` (``Decimal("2051")`` stays
``2051``), so parse -> build reproduces them. Parts the model keeps raw (see
``ksef.fa3.model``) are preserved as ``RawXml``; elements the parser does not know
(only possible in XSD-invalid input) are collected in ``Invoice.unknown_xml``
and never silently dropped. ``Invoice.created_at`` is a ``datetime``, or the
original text when a datetime cannot reproduce it exactly (e.g. 7 fractional
digits).
"""
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from lxml import etree

from ..errors import IncomingInvoiceInvalid, InvoiceValidationError
from ..i18n import _
from ..xmlsafe import parse
from . import codes
from .model import (
    AdditionalInfo,
    Address,
    AdvanceInvoiceRef,
    Annotations,
    BankAccount,
    Buyer,
    Contact,
    CorrectedInvoice,
    Correction,
    DocumentRef,
    Footer,
    Invoice,
    InvoiceLine,
    Order,
    OrderLine,
    PartialAdvance,
    PartialPayment,
    Payment,
    PaymentTerm,
    RawXml,
    Registry,
    Seller,
    Settlement,
    SettlementItem,
    ThirdParty,
    Totals,
    TransactionTerms,
)
from .schema import Problem, load_schema, validate_all

_NSB = "{%s}" % codes.NS
_NSLEN = len(_NSB)


class _ParseProblem(Exception):
    """A value that cannot be read: ``template`` (marked with ``_``) and ``params``."""

    def __init__(self, template, params=None):
        self.template, self.params = template, dict(params or {})
        super().__init__(template % self.params if self.params else template)


def _local(node):
    tag = node.tag
    if tag.startswith(_NSB):
        return tag[_NSLEN:]
    return etree.QName(tag).localname


def _children(node):
    """[(localname, element)] of element children (comments/PIs skipped)."""
    return [(_local(c), c) for c in node if isinstance(c.tag, str)]


def _raw(node):
    """Keep an element verbatim, minus indentation (whitespace-only text between elements)."""
    copy = etree.fromstring(etree.tostring(node, encoding="UTF-8", with_tail=False))
    for el in copy.iter():
        if len(el) and el.text is not None and not el.text.strip():
            el.text = None
        if el.tail is not None and not el.tail.strip():
            el.tail = None
    etree.cleanup_namespaces(copy)
    return RawXml(name=_local(node), xml=etree.tostring(copy, encoding="UTF-8"))


def _dec(node):
    text = (node.text or "").strip()
    try:
        return Decimal(text)
    except InvalidOperation:
        raise _ParseProblem(_("%(element)s: '%(value)s' is not a number."),
                            {"element": codes.label(_local(node)), "value": text}) from None


def _int(node):
    text = (node.text or "").strip()
    try:
        return int(text)
    except ValueError:
        raise _ParseProblem(_("%(element)s: '%(value)s' is not a whole number."),
                            {"element": codes.label(_local(node)), "value": text}) from None


def _date(node):
    text = (node.text or "").strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _ParseProblem(_("%(element)s: '%(value)s' is not a date (YYYY-MM-DD)."),
                            {"element": codes.label(_local(node)), "value": text}) from None


def _str(node):
    return node.text


def _bool12(node):
    return (node.text or "").strip() == "1"


class _Ctx:
    def __init__(self):
        self.unknown = []

    def unknown_el(self, node):
        self.unknown.append(_raw(node))


def _address(node):
    addr = Address(country=None, line1=None)
    for name, c in _children(node):
        if name == "KodKraju":
            addr.country = c.text
        elif name == "AdresL1":
            addr.line1 = c.text
        elif name == "AdresL2":
            addr.line2 = c.text
        elif name == "GLN":
            addr.gln = c.text
    return addr


def _contact(node):
    contact = Contact()
    for name, c in _children(node):
        if name in ("Email", "EmailPU"):
            contact.email = c.text
        elif name in ("Telefon", "TelefonPU"):
            contact.phone = c.text
    return contact


def _ids(party, node, ctx):
    for name, c in _children(node):
        if name == "NIP":
            party.nip = c.text
        elif name == "Nazwa":
            party.name = c.text
        elif name == "KodUE":
            party.eu_code = c.text
        elif name == "NrVatUE":
            party.eu_vat = c.text
        elif name == "KodKraju":
            party.foreign_country = c.text
        elif name == "NrID":
            party.foreign_id = c.text
        elif name == "BrakID":
            party.no_id = _bool12(c)
        elif name == "IDWew":
            party.internal_id = c.text
        else:
            ctx.unknown_el(c)


def _party_common(party, name, c):
    if name == "Adres":
        party.address = _address(c)
    elif name == "AdresKoresp":
        party.correspondence_address = _address(c)
    elif name == "DaneKontaktowe":
        party.contacts.append(_contact(c))
    elif name == "NrEORI":
        party.eori = c.text
    else:
        return False
    return True


def _seller(node, ctx):
    s = Seller()
    for name, c in _children(node):
        if _party_common(s, name, c):
            continue
        if name == "DaneIdentyfikacyjne":
            for n2, c2 in _children(c):
                if n2 == "NIP":
                    s.nip = c2.text
                elif n2 == "Nazwa":
                    s.name = c2.text
                else:
                    ctx.unknown_el(c2)
        elif name == "PrefiksPodatnika":
            s.vat_prefix = c.text
        elif name == "StatusInfoPodatnika":
            s.taxpayer_status = _int(c)
        else:
            ctx.unknown_el(c)
    return s


def _buyer(node, ctx, cls=Buyer):
    b = cls()
    for name, c in _children(node):
        if _party_common(b, name, c):
            continue
        if name == "DaneIdentyfikacyjne":
            _ids(b, c, ctx)
        elif name == "NrKlienta":
            b.customer_number = c.text
        elif name == "IDNabywcy":
            b.buyer_id = c.text
        elif name == "JST" and cls is Buyer:
            b.jst = _bool12(c)
        elif name == "GV" and cls is Buyer:
            b.gv = _bool12(c)
        elif name == "Rola" and cls is ThirdParty:
            b.role = _int(c)
        elif name == "RolaInna" and cls is ThirdParty:
            pass
        elif name == "OpisRoli" and cls is ThirdParty:
            b.other_role = c.text
        elif name == "Udzial" and cls is ThirdParty:
            b.share = _dec(c)
        else:
            ctx.unknown_el(c)
    return b


def _annotations(node, ctx):
    a = Annotations()
    for name, c in _children(node):
        if name == "P_16":
            a.cash_accounting = _bool12(c)
        elif name == "P_17":
            a.self_billing = _bool12(c)
        elif name == "P_18":
            a.reverse_charge = _bool12(c)
        elif name == "P_18A":
            a.split_payment = _bool12(c)
        elif name == "Zwolnienie":
            for n2, c2 in _children(c):
                if n2 in ("P_19A", "P_19B", "P_19C"):
                    a.exemption = c2.text
                    a.exemption_basis = n2[-1]
                elif n2 not in ("P_19", "P_19N"):
                    ctx.unknown_el(c2)
        elif name == "NoweSrodkiTransportu":
            kids = _children(c)
            if not (len(kids) == 1 and kids[0][0] == "P_22N"):
                a.new_transport_xml = _raw(c)
        elif name == "P_23":
            a.simplified_triangular = _bool12(c)
        elif name == "PMarzy":
            for n2, _c2 in _children(c):
                if n2.startswith("P_PMarzy_"):
                    a.margin = n2[len("P_PMarzy_"):]
        else:
            ctx.unknown_el(c)
    return a


_LINE_FIELDS = {
    "UU_ID": ("uuid", _str), "P_6A": ("date", _date), "P_7": ("name", _str),
    "Indeks": ("index", _str), "GTIN": ("gtin", _str), "PKWiU": ("pkwiu", _str),
    "CN": ("cn", _str), "PKOB": ("pkob", _str), "P_8A": ("unit", _str),
    "P_8B": ("quantity", _dec), "P_9A": ("unit_price_net", _dec),
    "P_9B": ("unit_price_gross", _dec), "P_10": ("discount", _dec), "P_11": ("net_amount", _dec),
    "P_11A": ("gross_amount", _dec), "P_11Vat": ("vat_amount", _dec), "P_12": ("vat_rate", _str),
    "P_12_XII": ("oss_rate", _dec), "P_12_Zal_15": ("annex15", _bool12),
    "KwotaAkcyzy": ("excise_amount", _dec), "GTU": ("gtu", _str), "Procedura": ("procedure", _str),
    "KursWaluty": ("exchange_rate", _dec), "StanPrzed": ("before_correction", _bool12),
    "NrWierszaFa": ("number", _int),
}

_ORDER_LINE_FIELDS = {
    "NrWierszaZam": ("number", _int), "UU_IDZ": ("uuid", _str), "P_7Z": ("name", _str),
    "IndeksZ": ("index", _str), "GTINZ": ("gtin", _str), "PKWiUZ": ("pkwiu", _str),
    "CNZ": ("cn", _str), "PKOBZ": ("pkob", _str), "P_8AZ": ("unit", _str),
    "P_8BZ": ("quantity", _dec), "P_9AZ": ("unit_price_net", _dec),
    "P_11NettoZ": ("net_amount", _dec), "P_11VatZ": ("vat_amount", _dec),
    "P_12Z": ("vat_rate", _str), "P_12Z_XII": ("oss_rate", _dec),
    "P_12Z_Zal_15": ("annex15", _bool12), "GTUZ": ("gtu", _str), "ProceduraZ": ("procedure", _str),
    "KwotaAkcyzyZ": ("excise_amount", _dec), "StanPrzedZ": ("before_correction", _bool12),
}


def _fields(obj, node, table, ctx):
    for name, c in _children(node):
        spec = table.get(name)
        if spec is None:
            ctx.unknown_el(c)
        else:
            setattr(obj, spec[0], spec[1](c))
    return obj


def _payment(node, ctx):
    p = Payment()
    for name, c in _children(node):
        if name == "Zaplacono":
            p.paid = _bool12(c)
        elif name == "DataZaplaty":
            p.paid_date = _date(c)
        elif name == "ZnacznikZaplatyCzesciowej":
            p.partial_flag = _int(c)
        elif name == "ZaplataCzesciowa":
            part = PartialPayment(amount=None, date=None)
            for n2, c2 in _children(c):
                if n2 == "KwotaZaplatyCzesciowej":
                    part.amount = _dec(c2)
                elif n2 == "DataZaplatyCzesciowej":
                    part.date = _date(c2)
                elif n2 == "FormaPlatnosci":
                    part.form = _int(c2)
                elif n2 == "OpisPlatnosci":
                    part.other_form = c2.text
                elif n2 != "PlatnoscInna":
                    ctx.unknown_el(c2)
            p.partial_payments.append(part)
        elif name == "TerminPlatnosci":
            term = PaymentTerm()
            for n2, c2 in _children(c):
                if n2 == "Termin":
                    term.due_date = _date(c2)
                elif n2 == "TerminOpis":
                    for n3, c3 in _children(c2):
                        if n3 == "Ilosc":
                            term.amount = _int(c3)
                        elif n3 == "Jednostka":
                            term.unit = c3.text
                        elif n3 == "ZdarzeniePoczatkowe":
                            term.start_event = c3.text
                        else:
                            ctx.unknown_el(c3)
                else:
                    ctx.unknown_el(c2)
            p.terms.append(term)
        elif name == "FormaPlatnosci":
            p.form = _int(c)
        elif name == "PlatnoscInna":
            pass
        elif name == "OpisPlatnosci":
            p.other_form = c.text
        elif name in ("RachunekBankowy", "RachunekBankowyFaktora"):
            acc = BankAccount(number=None)
            for n2, c2 in _children(c):
                if n2 == "NrRB":
                    acc.number = c2.text
                elif n2 == "SWIFT":
                    acc.swift = c2.text
                elif n2 == "RachunekWlasnyBanku":
                    acc.bank_own_account = _int(c2)
                elif n2 == "NazwaBanku":
                    acc.bank_name = c2.text
                elif n2 == "OpisRachunku":
                    acc.description = c2.text
                else:
                    ctx.unknown_el(c2)
            (p.bank_accounts if name == "RachunekBankowy" else p.factor_bank_accounts).append(acc)
        elif name == "Skonto":
            for n2, c2 in _children(c):
                if n2 == "WarunkiSkonta":
                    p.discount_terms = c2.text
                elif n2 == "WysokoscSkonta":
                    p.discount_amount = c2.text
                else:
                    ctx.unknown_el(c2)
        elif name == "LinkDoPlatnosci":
            p.link = c.text
        elif name == "IPKSeF":
            p.ipksef = c.text
        else:
            ctx.unknown_el(c)
    return p


def _terms(node, ctx):
    t = TransactionTerms()
    for name, c in _children(node):
        if name in ("Umowy", "Zamowienia"):
            ref = DocumentRef()
            for n2, c2 in _children(c):
                if n2 in ("DataUmowy", "DataZamowienia"):
                    ref.date = _date(c2)
                elif n2 in ("NrUmowy", "NrZamowienia"):
                    ref.number = c2.text
                else:
                    ctx.unknown_el(c2)
            (t.contracts if name == "Umowy" else t.orders).append(ref)
        elif name == "NrPartiiTowaru":
            t.batch_numbers.append(c.text)
        elif name == "WarunkiDostawy":
            t.delivery_terms = c.text
        elif name == "KursUmowny":
            t.contract_rate = _dec(c)
        elif name == "WalutaUmowna":
            t.contract_currency = c.text
        elif name == "Transport":
            t.transport_xml.append(_raw(c))
        elif name == "PodmiotPosredniczacy":
            t.intermediary = _bool12(c)
        else:
            ctx.unknown_el(c)
    return t


def _settlement(node, ctx):
    s = Settlement()
    for name, c in _children(node):
        if name in ("Obciazenia", "Odliczenia"):
            item = SettlementItem(amount=None, reason=None)
            for n2, c2 in _children(c):
                if n2 == "Kwota":
                    item.amount = _dec(c2)
                elif n2 == "Powod":
                    item.reason = c2.text
                else:
                    ctx.unknown_el(c2)
            (s.charges if name == "Obciazenia" else s.deductions).append(item)
        elif name == "SumaObciazen":
            s.charges_total = _dec(c)
        elif name == "SumaOdliczen":
            s.deductions_total = _dec(c)
        elif name == "DoZaplaty":
            s.to_pay = _dec(c)
        elif name == "DoRozliczenia":
            s.to_settle = _dec(c)
        else:
            ctx.unknown_el(c)
    return s


def _footer(node, ctx):
    f = Footer()
    for name, c in _children(node):
        if name == "Informacje":
            for n2, c2 in _children(c):
                if n2 == "StopkaFaktury":
                    f.texts.append(c2.text)
                else:
                    ctx.unknown_el(c2)
        elif name == "Rejestry":
            reg = Registry()
            for n2, c2 in _children(c):
                attr = {"PelnaNazwa": "full_name", "KRS": "krs", "REGON": "regon",
                        "BDO": "bdo"}.get(n2)
                if attr:
                    setattr(reg, attr, c2.text)
                else:
                    ctx.unknown_el(c2)
            f.registries.append(reg)
        else:
            ctx.unknown_el(c)
    return f


_TOTAL_NAMES = {"P_13_%s" % b for b in codes.ALL_BUCKETS} | {
    "P_14_%s" % b for b in codes.VAT_BUCKETS} | {"P_14_%sW" % b for b in ("1", "2", "3", "4")} | {
    "P_15"}


def _fa(inv, node, ctx):
    totals = Totals()
    correction = None

    def corr():
        nonlocal correction
        if correction is None:
            correction = Correction()
        return correction

    for name, c in _children(node):
        if name == "KodWaluty":
            inv.currency = c.text
        elif name == "P_1":
            inv.issue_date = _date(c)
        elif name == "P_1M":
            inv.place_of_issue = c.text
        elif name == "P_2":
            inv.number = c.text
        elif name == "WZ":
            inv.delivery_notes.append(c.text)
        elif name == "P_6":
            inv.sale_date = _date(c)
        elif name == "OkresFa":
            for n2, c2 in _children(c):
                if n2 == "P_6_Od":
                    inv.period_from = _date(c2)
                elif n2 == "P_6_Do":
                    inv.period_to = _date(c2)
                else:
                    ctx.unknown_el(c2)
        elif name in _TOTAL_NAMES:
            setattr(totals, name.lower(), _dec(c))
        elif name == "KursWalutyZ":
            inv.advance_exchange_rate = _dec(c)
        elif name == "Adnotacje":
            inv.annotations = _annotations(c, ctx)
        elif name == "RodzajFaktury":
            inv.kind = c.text
        elif name == "PrzyczynaKorekty":
            corr().reason = c.text
        elif name == "TypKorekty":
            corr().type = _int(c)
        elif name == "DaneFaKorygowanej":
            ref = CorrectedInvoice(issue_date=None, number=None)
            for n2, c2 in _children(c):
                if n2 == "DataWystFaKorygowanej":
                    ref.issue_date = _date(c2)
                elif n2 == "NrFaKorygowanej":
                    ref.number = c2.text
                elif n2 == "NrKSeFFaKorygowanej":
                    ref.ksef_number = c2.text
                elif n2 not in ("NrKSeF", "NrKSeFN"):
                    ctx.unknown_el(c2)
            corr().invoices.append(ref)
        elif name == "OkresFaKorygowanej":
            corr().period = c.text
        elif name == "NrFaKorygowany":
            corr().corrected_number = c.text
        elif name == "Podmiot1K":
            corr().seller_before_xml = _raw(c)
        elif name == "Podmiot2K":
            corr().buyer_before_xml.append(_raw(c))
        elif name == "P_15ZK":
            corr().amount_before = _dec(c)
        elif name == "KursWalutyZK":
            corr().exchange_rate_before = _dec(c)
        elif name == "ZaliczkaCzesciowa":
            adv = PartialAdvance(date=None, amount=None)
            for n2, c2 in _children(c):
                if n2 == "P_6Z":
                    adv.date = _date(c2)
                elif n2 == "P_15Z":
                    adv.amount = _dec(c2)
                elif n2 == "KursWalutyZW":
                    adv.exchange_rate = _dec(c2)
                else:
                    ctx.unknown_el(c2)
            inv.partial_advances.append(adv)
        elif name == "FP":
            inv.receipt_invoice = _bool12(c)
        elif name == "TP":
            inv.related_parties = _bool12(c)
        elif name == "DodatkowyOpis":
            info = AdditionalInfo(key=None, value=None)
            for n2, c2 in _children(c):
                if n2 == "NrWiersza":
                    info.line_number = _int(c2)
                elif n2 == "Klucz":
                    info.key = c2.text
                elif n2 == "Wartosc":
                    info.value = c2.text
                else:
                    ctx.unknown_el(c2)
            inv.additional_info.append(info)
        elif name == "FakturaZaliczkowa":
            ref = AdvanceInvoiceRef()
            for n2, c2 in _children(c):
                if n2 == "NrKSeFFaZaliczkowej":
                    ref.ksef_number = c2.text
                elif n2 == "NrFaZaliczkowej":
                    ref.number = c2.text
                elif n2 != "NrKSeFZN":
                    ctx.unknown_el(c2)
            inv.advance_invoices.append(ref)
        elif name == "ZwrotAkcyzy":
            inv.excise_refund = _bool12(c)
        elif name == "FaWiersz":
            inv.lines.append(_fields(InvoiceLine(), c, _LINE_FIELDS, ctx))
        elif name == "Rozliczenie":
            inv.settlement = _settlement(c, ctx)
        elif name == "Platnosc":
            inv.payment = _payment(c, ctx)
        elif name == "WarunkiTransakcji":
            inv.transaction_terms = _terms(c, ctx)
        elif name == "Zamowienie":
            order = Order(total=None)
            for n2, c2 in _children(c):
                if n2 == "WartoscZamowienia":
                    order.total = _dec(c2)
                elif n2 == "ZamowienieWiersz":
                    order.lines.append(_fields(OrderLine(), c2, _ORDER_LINE_FIELDS, ctx))
                else:
                    ctx.unknown_el(c2)
            inv.order = order
        else:
            ctx.unknown_el(c)
    inv.totals = totals
    inv.correction = correction


def _created_at(text):
    from .builder import _datetime_text
    value = (text or "").strip()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    return parsed if _datetime_text(parsed) == value else value


def _invoice(root, ctx):
    if not isinstance(root.tag, str) or root.tag != _NSB + "Faktura":
        raise _ParseProblem(
            _("This is not an FA(3) invoice: the root element is %(root)s, expected Faktura in "
              "the namespace %(namespace)s."), {"root": root.tag, "namespace": codes.NS})
    inv = Invoice(number=None, issue_date=None, seller=None, buyer=None)
    for name, c in _children(root):
        if name == "Naglowek":
            for n2, c2 in _children(c):
                if n2 == "KodFormularza":
                    if c2.get("kodSystemowy") != codes.SYSTEM_CODE:
                        raise _ParseProblem(
                            _("This invoice uses the form %(form)r; only FA (3) is supported."),
                            {"form": c2.get("kodSystemowy")})
                elif n2 == "DataWytworzeniaFa":
                    inv.created_at = _created_at(c2.text)
                elif n2 == "SystemInfo":
                    inv.system_info = c2.text
                elif n2 != "WariantFormularza":
                    ctx.unknown_el(c2)
        elif name == "Podmiot1":
            inv.seller = _seller(c, ctx)
        elif name == "Podmiot2":
            inv.buyer = _buyer(c, ctx)
        elif name == "Podmiot3":
            inv.third_parties.append(_buyer(c, ctx, ThirdParty))
        elif name == "PodmiotUpowazniony":
            inv.authorized_party_xml = _raw(c)
        elif name == "Fa":
            _fa(inv, c, ctx)
        elif name == "Stopka":
            inv.footer = _footer(c, ctx)
        elif name == "Zalacznik":
            inv.attachment_xml = _raw(c)
        else:
            ctx.unknown_el(c)
    inv.unknown_xml = ctx.unknown
    return inv


def parse_invoice_xml(data, *, validate=False, schema=None,
                      max_bytes=codes.MAX_INVOICE_BYTES_WITH_ATTACHMENT):
    """Parse FA(3) XML bytes into an ``Invoice``; see the module docstring."""
    root = parse(data, max_bytes=max_bytes, what=_("invoice XML"))
    if validate:
        problems = _schema_problems(root, schema)
        if problems:
            raise InvoiceValidationError(problems=problems)
    return _map(root)


def _schema_problems(root, schema):
    if not isinstance(root.tag, str) or root.tag != _NSB + "Faktura":
        return [Problem(_("This is not an FA(3) invoice: the root element is %(root)s, expected "
                          "Faktura in the namespace %(namespace)s."),
                        params={"root": root.tag, "namespace": codes.NS}, code="xsd",
                        element="Faktura")]
    return validate_all(root, schema if schema is not None else load_schema())


def validate_incoming(data, schema=None):
    """Readable XSD problems of a received FA(3) file ([] = valid), every one of them.

    ``schema`` defaults to ``load_schema()`` (the shipped FA(3) XSD). Hostile, oversized,
    malformed or non-UTF-8 XML raises ``XMLSecurityError``.
    """
    root = parse(data, max_bytes=codes.MAX_INVOICE_BYTES_WITH_ATTACHMENT,
                 what=_("invoice XML"))
    return _schema_problems(root, schema)


def parse_incoming_invoice_xml(data, schema=None):
    """A received FA(3) file -> ``Invoice``, XSD-validated BEFORE anything is mapped.

    Raises ``IncomingInvoiceInvalid`` (an ``InvoiceValidationError``) listing every reason, or
    ``XMLSecurityError`` for hostile, oversized, malformed or non-UTF-8 XML.
    """
    root = parse(data, max_bytes=codes.MAX_INVOICE_BYTES_WITH_ATTACHMENT,
                 what=_("invoice XML"))
    problems = _schema_problems(root, schema)
    if problems:
        raise IncomingInvoiceInvalid(problems=problems)
    return _map(root)


def _map(root):
    try:
        return _invoice(root, _Ctx())
    except _ParseProblem as exc:
        raise InvoiceValidationError(problems=[Problem(exc.template, params=exc.params,
                                                       code="parse")]) from None
