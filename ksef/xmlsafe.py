"""Parsing of untrusted XML: no DTD, no entities, no network, a size limit.

Every XML that comes from outside (KSeF responses, UPOs, purchase invoices,
uploaded files, requests reaching the emulator) goes through ``parse``.
"""
import re

from lxml import etree

from .errors import XMLSecurityError
from .i18n import _

#: default ceiling: KSeF invoices are at most 1 MB (3 MB with attachments)
DEFAULT_MAX_BYTES = 5 * 1024 * 1024


#: libxml2 refuses deeper documents unless XML_PARSE_HUGE is set (``huge_tree``, never set here)
MAX_DEPTH = 256

_DECLARED_ENCODING = re.compile(rb"""^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)""")


_DTD_MESSAGE = _("The %(what)s contains a DOCTYPE/entity declaration, which is not allowed "
                 "(possible XML attack); it was refused.")


def _check_utf8(data, what):
    """Refuse bytes that claim (or default to) UTF-8 but are not valid UTF-8, saying where."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return                                   # UTF-16 with a BOM: libxml2 decodes it
    declared = _DECLARED_ENCODING.match(bytes(data[:200]))
    if declared and declared.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
        return                                   # another declared encoding: libxml2 decodes it
    try:
        bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise XMLSecurityError(_(
            "The %(what)s is not valid UTF-8 text (byte 0x%(byte)s at position %(position)s), so "
            "it was not read. KSeF documents are UTF-8: ask whoever produced the file for a "
            "correct one."), params={"what": what, "byte": "%02X" % data[exc.start],
                                      "position": exc.start}, reason="encoding") from None


def _parser():
    return etree.XMLParser(resolve_entities=False, no_network=True, dtd_validation=False,
                           load_dtd=False, huge_tree=False, remove_comments=False,
                           remove_pis=False)


def parse(data, max_bytes=DEFAULT_MAX_BYTES, what="XML document"):
    """Parse ``data`` (bytes) and return the root element, or raise XMLSecurityError.

    Refuses: documents larger than ``max_bytes`` (before parsing), bytes that are not
    the UTF-8 they claim to be, any DOCTYPE (hence every entity declaration: XXE,
    billion laughs; entities are never expanded), nesting deeper than ``MAX_DEPTH``
    and malformed XML. ``exc.reason``: "oversize", "encoding", "dtd", "depth",
    "malformed" or "entity".
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError("parse() takes bytes")
    if len(data) > max_bytes:
        raise XMLSecurityError(_(
            "The %(what)s is too large (%(size)s bytes; the limit is %(limit)s bytes) and was not "
            "read."), params={"what": what, "size": len(data), "limit": max_bytes}, reason="oversize")
    _check_utf8(data, what)
    try:
        root = etree.fromstring(bytes(data), parser=_parser())
    except etree.XMLSyntaxError as exc:
        if b"<!DOCTYPE" in data:        # e.g. an entity loop libxml2 stopped on: same refusal
            raise XMLSecurityError(_DTD_MESSAGE, params={"what": what}, reason="dtd") from exc
        if "Excessive depth" in str(exc):
            raise XMLSecurityError(_(
                "The %(what)s nests its elements deeper than %(limit)s levels (possible XML attack); "
                "it was refused."), params={"what": what, "limit": MAX_DEPTH},
                reason="depth") from exc
        raise XMLSecurityError(_("The %(what)s is not well-formed XML: %(error)s"),
                               params={"what": what, "error": str(exc)}, reason="malformed") from exc
    tree = root.getroottree()
    docinfo = tree.docinfo
    if docinfo.doctype or (docinfo.internalDTD is not None) or (docinfo.externalDTD is not None):
        raise XMLSecurityError(_DTD_MESSAGE, params={"what": what}, reason="dtd")
    if next(root.iter(etree.Entity), None) is not None:  # pragma: no cover
        raise XMLSecurityError(_("The %(what)s uses XML entities; it was refused."),
                               params={"what": what}, reason="entity")
    return root
