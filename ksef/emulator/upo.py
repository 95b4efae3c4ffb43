"""UPO (Urzędowe Poświadczenie Odbioru) XML, schema upo-v4-3 (not signed by the emulator)."""
from lxml import etree

from .common import iso_warsaw

NS = "http://upo.schematy.mf.gov.pl/KSeF/v4-3"
#: fixed by the XSD (the real TEST/DEMO add an environment suffix, which the XSD rejects)
RECEIVER = "Ministerstwo Finansów"
PAGE_SIZE = 10000

_CONTEXT_ELEMENTS = {"Nip": "Nip", "InternalId": "IdWewnetrzny", "NipVatUe": "IdZlozonyVatUE",
                     "PeppolId": "IdDostawcyUslugPeppol"}


def _sub(parent, name, text=None):
    element = etree.SubElement(parent, "{%s}%s" % (NS, name))
    if text is not None:
        element.text = str(text)
    return element


def build_upo(session, invoices, page=None):
    """UPO bytes for ``invoices`` (successful invoice records) of ``session``.

    ``page`` = (number, page_count, first_index, last_index, total) for a session UPO page;
    None for a single-invoice UPO.
    """
    root = etree.Element("{%s}Potwierdzenie" % NS, nsmap={None: NS})
    _sub(root, "NazwaPodmiotuPrzyjmujacego", RECEIVER)
    _sub(root, "NumerReferencyjnySesji", session["referenceNumber"])
    auth = _sub(root, "Uwierzytelnienie")
    context = _sub(auth, "IdKontekstu")
    ctx = session["context"]
    _sub(context, _CONTEXT_ELEMENTS.get(ctx["type"], "Nip"), ctx["value"])
    if session.get("ksefTokenReference"):
        _sub(auth, "NumerReferencyjnyTokenaKSeF", session["ksefTokenReference"])
    else:
        _sub(auth, "SkrotDokumentuUwierzytelniajacego", session["authDocumentHash"])
    if page is not None:
        number, count, first, last, total = page
        desc = _sub(root, "OpisPotwierdzenia")
        _sub(desc, "Strona", number)
        _sub(desc, "LiczbaStron", count)
        _sub(desc, "ZakresDokumentowOd", first)
        _sub(desc, "ZakresDokumentowDo", last)
        _sub(desc, "CalkowitaLiczbaDokumentow", total)
    system_code = session["formCode"]["systemCode"]
    _sub(root, "NazwaStrukturyLogicznej", "Schemat_%s_v%s.xsd" % (
        system_code.replace(" ", ""), session["formCode"]["schemaVersion"]))
    _sub(root, "KodFormularza", system_code)
    for inv in invoices:
        doc = _sub(root, "Dokument")
        _sub(doc, "NipSprzedawcy", inv["sellerNip"])
        _sub(doc, "NumerKSeFDokumentu", inv["ksefNumber"])
        _sub(doc, "NumerFaktury", inv["invoiceNumber"])
        _sub(doc, "DataWystawieniaFaktury", inv["issueDate"])
        _sub(doc, "DataPrzeslaniaDokumentu", iso_warsaw(inv["invoicingTs"]))
        _sub(doc, "DataNadaniaNumeruKSeF", iso_warsaw(inv["acquisitionTs"]))
        _sub(doc, "SkrotDokumentu", inv["invoiceHash"])
        _sub(doc, "TrybWysylki", inv["invoicingMode"])
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def session_pages(invoices):
    """Split successful invoices into UPO pages: list of (first, last, chunk)."""
    pages = []
    for start in range(0, len(invoices), PAGE_SIZE):
        chunk = invoices[start:start + PAGE_SIZE]
        pages.append((start + 1, start + len(chunk), chunk))
    return pages
