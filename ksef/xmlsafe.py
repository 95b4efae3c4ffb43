"""Parsing of untrusted XML: no DTD, no entities, no network, a size limit.

Every XML that comes from outside (KSeF responses, UPOs, purchase invoices,
uploaded files, requests reaching the emulator) goes through ``parse``.
"""
from lxml import etree

from .errors import XMLSecurityError
from .i18n import _

#: default ceiling: KSeF invoices are at most 1 MB (3 MB with attachments)
DEFAULT_MAX_BYTES = 5 * 1024 * 1024


def _parser():
    return etree.XMLParser(resolve_entities=False, no_network=True, dtd_validation=False,
                           load_dtd=False, huge_tree=False, remove_comments=False,
                           remove_pis=False)


def parse(data, max_bytes=DEFAULT_MAX_BYTES, what="XML document"):
    """Parse ``data`` (bytes) and return the root element, or raise XMLSecurityError.

    Refuses: documents larger than ``max_bytes``, any DOCTYPE (hence every
    entity declaration: XXE, billion laughs), and malformed XML.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError("parse() takes bytes")
    if len(data) > max_bytes:
        raise XMLSecurityError(_(
            "The %(what)s is too large (%(size)s bytes; the limit is %(limit)s bytes) and was not "
            "read."), params={"what": what, "size": len(data), "limit": max_bytes}, reason="oversize")
    try:
        root = etree.fromstring(bytes(data), parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise XMLSecurityError(_("The %(what)s is not well-formed XML: %(error)s"),
                               params={"what": what, "error": str(exc)}, reason="malformed") from exc
    tree = root.getroottree()
    docinfo = tree.docinfo
    if docinfo.doctype or (docinfo.internalDTD is not None) or (docinfo.externalDTD is not None):
        raise XMLSecurityError(_(
            "The %(what)s contains a DOCTYPE/entity declaration, which is not allowed "
            "(possible XML attack); it was refused."), params={"what": what}, reason="dtd")
    if next(root.iter(etree.Entity), None) is not None:  # pragma: no cover
        raise XMLSecurityError(_("The %(what)s uses XML entities; it was refused."),
                               params={"what": what}, reason="entity")
    return root
