"""Reading UPO receipts (Urzędowe Poświadczenie Odbioru, schema UPO v4-3).

A session UPO page lists up to 10,000 ``Dokument`` entries; an invoice UPO one.
Real UPOs are signed by the ministry, so callers keep the whole file and use
these helpers only to find the entry of each invoice.
"""
from lxml import etree

from . import xmlsafe

#: a session UPO page of 10,000 documents is about 6 MB
UPO_MAX_BYTES = 32 * 1024 * 1024


def upo_documents(data, max_bytes=UPO_MAX_BYTES):
    """``{KSeF number: {field: text}}`` for every ``Dokument`` of a UPO (bytes).

    Fields are the UPO's own element names (NipSprzedawcy, NumerKSeFDokumentu,
    NumerFaktury, DataWystawieniaFaktury, DataPrzeslaniaDokumentu,
    DataNadaniaNumeruKSeF, SkrotDokumentu, TrybWysylki). Raises
    errors.XMLSecurityError for a hostile, oversized or malformed file.
    """
    root = xmlsafe.parse(data, max_bytes=max_bytes, what="UPO")
    documents = {}
    for document in root.iter("{*}Dokument"):
        fields = {etree.QName(child).localname: (child.text or "").strip()
                  for child in document if isinstance(child.tag, str)}
        number = fields.get("NumerKSeFDokumentu")
        if number:
            documents[number] = fields
    return documents


def format_document(fields):
    """The entry as readable ``Name: value`` lines (kept on the invoice)."""
    return "\n".join("%s: %s" % item for item in fields.items())
