"""What the emulator reads from a decrypted invoice: checks of SPEC §13 and InvoiceMetadata fields."""
import re
from decimal import Decimal, InvalidOperation

from lxml import etree

from .. import xmlsafe
from ..errors import XMLSecurityError
from ..fa3.schema import load_schema

FA3_NS = "http://crd.gov.pl/wzor/2025/06/25/13775/"
FA2_NS = "http://crd.gov.pl/wzor/2023/06/29/12648/"
MAX_INVOICE_BYTES = 1000000

INVOICE_TYPES = {"VAT": "Vat", "KOR": "Kor", "ZAL": "Zal", "ROZ": "Roz", "UPR": "Upr",
                 "KOR_ZAL": "KorZal", "KOR_ROZ": "KorRoz"}

_DISCOURAGED = re.compile("[\x7f-\x84\x86-\x9f\ufdd0-\ufdef]")



class Rejected(Exception):
    """Invoice rejected with an invoice status code (410/415/430/450)."""

    def __init__(self, code, details):
        super().__init__("%s: %s" % (code, details))
        self.code = code
        self.details = list(details)
        self.extensions = None


def _text(root, path):
    found = root.find(path, {"f": root.nsmap.get(None) or FA3_NS})
    return found.text.strip() if found is not None and found.text else None


def _amount(root, path):
    value = _text(root, path)
    try:
        return Decimal(value) if value is not None else None
    except InvalidOperation:
        return None


def parse_invoice(data, schema_dir=None, expected_ns=FA3_NS):
    """Check an invoice's bytes and return (root, fields). Raises Rejected(430, ...)."""
    if data.startswith(b"\xef\xbb\xbf"):
        raise Rejected(430, ["Plik faktury zawiera znacznik BOM; wymagane jest UTF-8 bez BOM."])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected(430, ["Plik faktury nie jest poprawnym tekstem UTF-8."]) from None
    if _DISCOURAGED.search(text):
        raise Rejected(430, ["Plik faktury zawiera niedozwolone znaki Unicode."])
    try:
        root = xmlsafe.parse(data, max_bytes=MAX_INVOICE_BYTES * 3, what="invoice")
    except XMLSecurityError as exc:
        raise Rejected(430, ["Plik faktury nie jest poprawnym dokumentem XML: %s" % exc]) from None
    declared = re.match(r"<\?xml[^>]*encoding=[\"']([^\"']+)", text)
    if declared and declared.group(1).lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise Rejected(430, ["Deklaracja XML wskazuje kodowanie inne niż UTF-8."])
    tree = root.getroottree()
    node = tree.getroot()
    sibling = node.getprevious()
    has_pi = any(isinstance(n, etree._ProcessingInstruction) for n in root.iter()) or (
        sibling is not None and isinstance(sibling, etree._ProcessingInstruction))
    if has_pi:
        raise Rejected(430, ["Plik faktury zawiera instrukcje przetwarzania (processing instructions)."])
    if root.tag != "{%s}Faktura" % expected_ns:
        raise Rejected(430, ["Dokument nie jest zgodny ze schemą wskazaną przy otwarciu sesji "
                             "(oczekiwano {%s}Faktura, otrzymano %s)." % (expected_ns, root.tag)])
    if schema_dir and expected_ns == FA3_NS:
        schema = load_schema(schema_dir)
        if not schema.validate(tree):
            details = ["Linia %d: %s" % (e.line, e.message) for e in list(schema.error_log)[:20]]
            raise Rejected(430, ["Dokument nie jest zgodny ze schemą (xsd)."] + details)
    return root, read_fields(root)


def read_fields(root):
    ns = root.nsmap.get(None) or FA3_NS
    q = {"f": ns}

    def t(path):
        return _text(root, path)

    net = Decimal(0)
    vat = Decimal(0)
    currency = t("f:Fa/f:KodWaluty") or "PLN"
    fa = root.find("f:Fa", q)
    if fa is not None:
        for child in fa:
            name = etree.QName(child).localname
            try:
                value = Decimal((child.text or "").strip())
            except InvalidOperation:
                continue
            if re.fullmatch(r"P_13_\d+(_\d)?", name):
                net += value
            elif currency == "PLN" and re.fullmatch(r"P_14_\d", name):
                vat += value
            elif currency != "PLN" and re.fullmatch(r"P_14_\dW", name):
                vat += value
    buyer_id = {"type": "None"}
    buyer = root.find("f:Podmiot2/f:DaneIdentyfikacyjne", q)
    if buyer is not None:
        if buyer.find("f:NIP", q) is not None:
            buyer_id = {"type": "Nip", "value": buyer.find("f:NIP", q).text}
        elif buyer.find("f:NrVatUE", q) is not None:
            buyer_id = {"type": "VatUe", "value": "%s%s" % (
                _text(buyer, "f:KodUE") or "", buyer.find("f:NrVatUE", q).text)}
        elif buyer.find("f:NrID", q) is not None:
            buyer_id = {"type": "Other", "value": buyer.find("f:NrID", q).text}
    third = []
    for p3 in root.findall("f:Podmiot3", q):
        ident = {"type": "None"}
        for tag, kind in (("NIP", "Nip"), ("IDWew", "InternalId"), ("NrVatUE", "VatUe"),
                          ("NrID", "Other")):
            el = p3.find("f:DaneIdentyfikacyjne/f:%s" % tag, q)
            if el is not None and el.text:
                ident = {"type": kind, "value": el.text.strip()[:50]}
                break
        role = _text(p3, "f:Rola")
        third.append({"identifier": ident, "name": _text(p3, "f:DaneIdentyfikacyjne/f:Nazwa"),
                      "role": int(role) if role and role.isdigit() else 0})
    gross = _amount(root, "f:Fa/f:P_15") or Decimal(0)
    kind = t("f:Fa/f:RodzajFaktury") or "VAT"
    return {
        "sellerNip": t("f:Podmiot1/f:DaneIdentyfikacyjne/f:NIP"),
        "sellerName": t("f:Podmiot1/f:DaneIdentyfikacyjne/f:Nazwa"),
        "buyerIdentifier": buyer_id,
        "buyerName": t("f:Podmiot2/f:DaneIdentyfikacyjne/f:Nazwa"),
        "issueDate": t("f:Fa/f:P_1"),
        "invoiceNumber": t("f:Fa/f:P_2"),
        "rodzajFaktury": kind,
        "invoiceType": INVOICE_TYPES.get(kind, "Vat"),
        "currency": currency,
        "netAmount": float(net),
        "vatAmount": float(vat),
        "grossAmount": float(gross),
        "isSelfInvoicing": t("f:Fa/f:Adnotacje/f:P_17") == "1",
        "hasAttachment": root.find("f:Zalacznik", q) is not None,
        "thirdSubjects": third,
    }
