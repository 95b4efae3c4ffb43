"""The official FA(3) XSD: shipped with the module, compiled once, readable errors.

The ministry's schema files are shipped in ``ksef/fa3/xsd/`` (see its README: source, version,
the one relative ``schemaLocation``), so every invoice is validated locally, with no network at
run time. ``load_schema()`` uses, in order:

1. ``schema_dir`` passed by the caller, laid out like ``ksef/fa3/xsd``:
   ``schemat_FA(3)_v1-0E.xsd`` (any single ``*.xsd`` that declares the FA(3)
   namespace is accepted) plus ``bazowe/StrukturyDanych_v10-0E.xsd``,
   ``bazowe/ElementarneTypyDanych_v10-0E.xsd``, ``bazowe/KodyKrajow_v10-0E.xsd``;
2. the environment variable ``KSEF_SCHEMA_DIR`` (same layout);
3. the shipped schema (``SHIPPED_SCHEMA_DIR``): always there, so without 1. and 2.
   ``load_schema()`` always returns a compiled schema.

``download_schema(folder)`` is an explicit tool (never called at run time) that fetches the
current files from the official addresses (``FA3_XSD_URL``, ``BAZOWE_BASE_URL``) into a folder,
rewriting the main file's ``xsd:import`` to ``bazowe/...`` exactly as the shipped copy; compare
it with ``ksef/fa3/xsd`` or use it as ``schema_dir`` when the ministry publishes a change.

Public API::

    load_schema(schema_dir=None) -> lxml.etree.XMLSchema   # compiled once per directory
    shipped_schema() -> lxml.etree.XMLSchema               # the shipped copy, ignoring overrides
    download_schema(cache_dir=None, fa_url=None, bazowe_url=None, timeout=30) -> str  # the folder
    validate_tree(root, schema) -> list[Problem]       # [] when valid
    validate_xml(data: bytes, schema=None) -> list[Problem]
    Problem                                            # str with .element .path .raw .line_no

``Problem`` is a ``str`` (the readable sentence, e.g. "Line 3: the VAT rate (stawka
VAT, P_12) 'X' is not one KSeF accepts (23, 22, 8, ...)") carrying the raw
libxml2 message in ``.raw`` and the XPath in ``.path``.
"""
import copy
import os
import re
import threading

from lxml import etree

from ..errors import SchemaUnavailableError, format_message
from ..i18n import Text, _
from . import codes

FA3_XSD_NAME = "schemat_FA(3)_v1-0E.xsd"
#: the ministry's FA(3) schema shipped with the module (byte-identical to shared/ksef/schemas/FA)
SHIPPED_SCHEMA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "xsd")
FA3_XSD_URL = "https://crd.gov.pl/wzor/2025/06/25/13775/schemat.xsd"
BAZOWE_BASE_URL = "http://crd.gov.pl/xml/schematy/dziedzinowe/mf/2022/01/05/eD/DefinicjeTypy/"
BAZOWE_FILES = ("StrukturyDanych_v10-0E.xsd", "ElementarneTypyDanych_v10-0E.xsd",
                "KodyKrajow_v10-0E.xsd")
_IMPORT_RE = re.compile(rb'schemaLocation="[^"]*StrukturyDanych_v10-0E\.xsd"')
_LOCAL_IMPORT = b'schemaLocation="bazowe/StrukturyDanych_v10-0E.xsd"'

_cache = {}
_lock = threading.Lock()


class Problem(str):
    """A readable problem (the string) with the technical details as attributes.

    ``text`` may be a template marked with ``ksef.i18n._`` and ``params`` its
    ``%(name)s`` values: the string is then the formatted English sentence,
    ``.template`` the untranslated msgid and ``.params`` the values (which may
    be ``ksef.i18n.Text``), so the Odoo layer can show it in the user's
    language. Without ``params`` the template is the text itself.
    """

    element = None   # local name of the element concerned
    path = None      # XPath of the element (from libxml2) or a dotted model path
    raw = None       # raw XSD message (None for business checks)
    code = None      # short machine code: "xsd", "totals", "nip", ...
    template = None  # untranslated msgid (English)
    params = None    # dict of the template's placeholders

    def __new__(cls, text, element=None, path=None, raw=None, code=None, params=None):
        params = dict(params or {})
        obj = super().__new__(cls, format_message(text, params))
        obj.element, obj.path, obj.raw, obj.code = element, path, raw, code
        obj.template, obj.params = text, params
        return obj

    @property
    def message(self):
        return str(self)


def default_cache_dir():
    return os.environ.get("KSEF_SCHEMA_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "l10n_pl_ksef", "fa3")


def _main_xsd(directory):
    """Path of the FA(3) main XSD inside ``directory`` (None when absent)."""
    if not directory or not os.path.isdir(directory):
        return None
    candidate = os.path.join(directory, FA3_XSD_NAME)
    if os.path.isfile(candidate):
        return candidate
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if name.endswith(".xsd") and os.path.isfile(path):
            with open(path, "rb") as fh:
                if codes.NS.encode() in fh.read(4096):
                    return path
    return None


def _compile(main_xsd):
    key = os.path.realpath(main_xsd)
    with _lock:
        schema = _cache.get(key)
        if schema is not None:
            return schema
        parser = etree.XMLParser(no_network=True, resolve_entities=False)
        try:
            schema = etree.XMLSchema(etree.parse(main_xsd, parser))
        except (etree.XMLSchemaParseError, etree.XMLSyntaxError, OSError) as exc:
            raise SchemaUnavailableError(_(
                "The FA(3) schema in %(folder)s could not be compiled (%(error)s). Check that the "
                "folder holds the official FA(3) XSD and its 'bazowe' files, or unset "
                "KSEF_SCHEMA_DIR to use the schema shipped with the module."),
                params={"folder": os.path.dirname(main_xsd), "error": str(exc)}) from exc
        _cache[key] = schema
        return schema


def _fetch(url, timeout):
    from ..errors import KSeFAPIError, KSeFTransportError
    from ..transport import Transport
    transport = Transport(timeout=timeout, max_retries=1)
    try:
        response = transport.request_url("GET", url, allow_redirects=True,
                                         operation="download of the FA(3) schema")
    except KSeFAPIError as exc:
        raise SchemaUnavailableError(
            _("The FA(3) schema could not be downloaded from %(url)s (HTTP %(status)s)."),
            params={"url": url, "status": exc.http_status}) from exc
    except KSeFTransportError as exc:
        raise SchemaUnavailableError(
            _("The FA(3) schema could not be downloaded from %(url)s (%(error)s)."),
            params={"url": url, "error": type(exc.__cause__ or exc).__name__}) from exc
    finally:
        transport.close()
    if response.status_code != 200 or not response.content.lstrip().startswith(b"<"):
        raise SchemaUnavailableError(
            _("The FA(3) schema could not be downloaded from %(url)s (HTTP %(status)s)."),
            params={"url": url, "status": response.status_code})
    return response.content


def _write_atomic(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def download_schema(cache_dir=None, fa_url=None, bazowe_url=None, timeout=30):
    """Download the FA(3) XSD and its three base files into ``cache_dir``; return the directory.

    An explicit tool (nothing calls it at run time; the module ships the schema): use it to
    check whether the ministry published a change, then pass the folder as ``schema_dir``. The
    main file's import of StrukturyDanych is rewritten to ``bazowe/...`` so that the set
    compiles without network. Raises SchemaUnavailableError on failure.
    """
    cache_dir = cache_dir or default_cache_dir()
    fa_url = fa_url or os.environ.get("KSEF_SCHEMA_URL") or FA3_XSD_URL
    bazowe_url = bazowe_url or os.environ.get("KSEF_SCHEMA_BAZOWE_URL") or BAZOWE_BASE_URL
    if not bazowe_url.endswith("/"):
        bazowe_url += "/"
    main = _fetch(fa_url, timeout)
    if codes.NS.encode() not in main[:4096]:
        raise SchemaUnavailableError(
            _("The file downloaded from %(url)s is not the FA(3) schema (namespace %(ns)s missing)."),
            params={"url": fa_url, "ns": codes.NS})
    main, count = _IMPORT_RE.subn(_LOCAL_IMPORT, main)
    if count != 1:
        raise SchemaUnavailableError(
            _("The FA(3) schema downloaded from %(url)s has an unexpected import; it was not used."),
            params={"url": fa_url})
    base_files = {name: _fetch(bazowe_url + name, timeout) for name in BAZOWE_FILES}
    try:
        for name, data in base_files.items():
            _write_atomic(os.path.join(cache_dir, "bazowe", name), data)
        _write_atomic(os.path.join(cache_dir, FA3_XSD_NAME), main)
    except OSError as exc:
        raise SchemaUnavailableError(
            _("The FA(3) schema could not be stored in %(folder)s (%(error)s). Check the folder's "
              "permissions."), params={"folder": cache_dir, "error": str(exc)}) from exc
    return cache_dir


def load_schema(schema_dir=None):
    """Return the compiled FA(3) ``lxml.etree.XMLSchema`` (compiled once per directory).

    ``schema_dir``, else env ``KSEF_SCHEMA_DIR``, else the shipped schema (never a download).
    Raises SchemaUnavailableError only when an explicit folder holds no usable schema.
    """
    explicit = schema_dir or os.environ.get("KSEF_SCHEMA_DIR")
    if explicit:
        main = _main_xsd(explicit)
        if main is None:
            raise SchemaUnavailableError(_(
                "No FA(3) schema found in %(folder)s. Put the official schemat_FA(3)_v1-0E.xsd and "
                "its 'bazowe' folder there, or unset KSEF_SCHEMA_DIR to use the schema shipped "
                "with the module."), params={"folder": explicit})
        return _compile(main)
    return shipped_schema()


def shipped_schema():
    """The compiled FA(3) schema shipped in ``ksef/fa3/xsd`` (ignores ``KSEF_SCHEMA_DIR``)."""
    return _compile(os.path.join(SHIPPED_SCHEMA_DIR, FA3_XSD_NAME))


def clear_cache():
    """Forget compiled schemas (tests)."""
    with _lock:
        _cache.clear()


# --- readable XSD errors -----------------------------------------------------------

_NAME_RE = re.compile(r"\{[^}]*\}([A-Za-z0-9_]+)")
_ELEMENT_RE = re.compile(r"^Element '(?:\{[^}]*\})?([A-Za-z0-9_]+)'(?:, attribute '([^']+)')?: ")


def _names(text):
    return [m for m in _NAME_RE.findall(text)]


class _Capitalized(Text):
    """A ``Text`` whose English form starts with a capital letter (the msgid does not)."""

    __slots__ = ()

    def __str__(self):
        text = super().__str__()
        return text[:1].upper() + text[1:]


def _join(items, separator=" / "):
    """A ``Text`` joining ``items`` (str or ``Text``) with a literal separator (not a msgid)."""
    items = list(items)
    if len(items) == 1:
        return items[0]
    return Text(separator.join("%%(p%d)s" % i for i in range(len(items))),
                {"p%d" % i: item for i, item in enumerate(items)})


def _and(items):
    """'A and B and C' as a translatable ``Text`` (or the single item)."""
    items = list(items)
    result = items[0]
    for item in items[1:]:
        result = Text(_("%(first)s and %(second)s"), {"first": result, "second": item})
    return result


def _where(node):
    """Human location of a node: 'Line 3', 'Buyer', 'Third party 2', 'Payment' ...

    Returns "" or a ``Text`` (its ``str()`` is the English location).
    """
    if node is None:
        return ""
    parts = []
    cur = node
    while cur is not None and isinstance(cur.tag, str):
        local = etree.QName(cur).localname
        if local == "FaWiersz":
            nr = cur.findtext("{%s}NrWierszaFa" % codes.NS)
            parts.append(Text(_("Line %(line)s"), {"line": nr or _position(cur)}))
        elif local == "ZamowienieWiersz":
            nr = cur.findtext("{%s}NrWierszaZam" % codes.NS)
            parts.append(Text(_("Order line %(line)s"), {"line": nr or _position(cur)}))
        elif local == "Podmiot3":
            parts.append(Text(_("Third party %(number)s"), {"number": _position(cur)}))
        elif local in ("Podmiot1", "Podmiot2", "PodmiotUpowazniony", "Platnosc", "Adnotacje",
                       "Stopka", "Rozliczenie", "Zamowienie", "WarunkiTransakcji", "Podmiot1K",
                       "Podmiot2K"):
            parts.append(codes.section_label(local))
        elif local == "DaneFaKorygowanej":
            parts.append(Text(_("Corrected invoice %(number)s"), {"number": _position(cur)}))
        cur = cur.getparent()
    if not parts:
        return ""
    return _join(reversed(parts))


def _position(node):
    parent = node.getparent()
    if parent is None:
        return 1
    return [c for c in parent if c.tag == node.tag].index(node) + 1


def _explain(message, element, attribute, value_node):
    """Turn one libxml2 schema message into a sentence (a ``Text``, lowercase, no final dot)."""
    what = codes.label(element) if element else _("an element")
    msg = message

    def say(template, **params):
        return Text(template, dict(params, what=what))

    m = re.search(r"\[facet 'enumeration'\] The value '([^']*)' is not an element of the set \{(.*)\}",
                  msg)
    if m:
        allowed = ", ".join(v.strip().strip("'") for v in m.group(2).split(","))
        if element in ("P_12", "P_12Z"):
            return say(_("the VAT rate '%(value)s' is not one KSeF accepts (%(allowed)s)"),
                       value=m.group(1), allowed=allowed)
        return say(_("the %(what)s '%(value)s' is not allowed; use one of: %(allowed)s"),
                   value=m.group(1), allowed=allowed)
    m = re.search(r"\[facet 'pattern'\] The value '([^']*)' is not accepted", msg)
    if m:
        value = m.group(1)
        if element in ("NIP",):
            digits = re.sub(r"\D", "", value)
            if len(digits) != 10 or digits != value:
                return say(_("NIP must have 10 digits (got '%(value)s')"), value=value)
            return say(_("NIP '%(value)s' is not a valid Polish NIP"), value=value)
        if element in ("NrKSeFFaKorygowanej", "NrKSeFFaZaliczkowej"):
            return say(_("'%(value)s' is not a KSeF number (format "
                         "NIP-YYYYMMDD-XXXXXX-XXXXXX-XX)"), value=value)
        if element in ("P_11", "P_13_1", "P_15") or element.startswith(("P_1", "Kwota", "P_9")):
            return say(_("the %(what)s '%(value)s' is not a valid amount (digits, a dot and at "
                         "most 2 decimals)"), value=value)
        return say(_("the %(what)s '%(value)s' has the wrong format"), value=value)
    m = re.search(r"\[facet 'maxLength'\] The value has a length of '(\d+)'; this exceeds the "
                  r"allowed maximum length of '(\d+)'", msg)
    if m:
        return say(_("the %(what)s is too long (%(length)s characters; at most %(limit)s "
                     "allowed)"), length=m.group(1), limit=m.group(2))
    m = re.search(r"\[facet 'minLength'\] The value has a length of '(\d+)'; this underruns the "
                  r"allowed minimum length of '(\d+)'", msg)
    if m:
        if m.group(1) == "0":
            return say(_("the %(what)s is empty; fill it in or leave it out"))
        return say(_("the %(what)s is too short (%(length)s characters; at least %(limit)s "
                     "needed)"), length=m.group(1), limit=m.group(2))
    m = re.search(r"\[facet 'length'\] The value has a length of '(\d+)'; this differs from the "
                  r"allowed length of '(\d+)'", msg)
    if m:
        return say(_("the %(what)s must have exactly %(limit)s characters (has %(length)s)"),
                   limit=m.group(2), length=m.group(1))
    m = re.search(r"\[facet 'fractionDigits'\] The value '([^']*)' has more fractional digits "
                  r"than are allowed \('(\d+)'\)", msg)
    if m:
        return say(_("the %(what)s '%(value)s' has too many decimals (at most %(limit)s)"),
                   value=m.group(1), limit=m.group(2))
    m = re.search(r"\[facet 'totalDigits'\] The value '([^']*)'", msg)
    if m:
        return say(_("the %(what)s '%(value)s' has too many digits"), value=m.group(1))
    m = re.search(r"\[facet '(min|max)Inclusive'\] The value '([^']*)' is (?:less|greater) than the "
                  r"(?:minimum|maximum) value allowed \('([^']*)'\)", msg)
    if m:
        low = m.group(1) == "min"
        if "date" in what or element.startswith("P_6") or element == "P_1":
            template = (_("the %(what)s %(value)s is before the allowed %(limit)s") if low
                        else _("the %(what)s %(value)s is after the allowed %(limit)s"))
        else:
            template = (_("the %(what)s %(value)s is below the allowed %(limit)s") if low
                        else _("the %(what)s %(value)s is above the allowed %(limit)s"))
        return say(template, value=m.group(2), limit=m.group(3))
    m = re.search(r"'([^']*)' is not a valid value of the (?:atomic|union|list) type '([^']*)'", msg)
    if m:
        type_name = _NAME_RE.sub(r"\1", m.group(2))
        if "Data" in type_name:
            return say(_("the %(what)s '%(value)s' is not a valid date (YYYY-MM-DD)"),
                       value=m.group(1))
        if "Kwot" in type_name or "Ilosci" in type_name or "Procent" in type_name:
            return say(_("the %(what)s '%(value)s' is not a valid number"), value=m.group(1))
        return say(_("the %(what)s '%(value)s' is not a valid value (%(type)s)"),
                   value=m.group(1), type=type_name)
    if "Missing child element(s)" in msg:
        missing = _missing_required(value_node)
        expected = missing or _names(msg.split("Expected is", 1)[-1])
        return say(_("the %(what)s is incomplete: %(missing)s is missing"),
                   missing=_and(codes.label(n) for n in expected) if expected
                   else _("a required element"))
    if "This element is not expected" in msg and value_node is not None and not is_fa3_element(
            value_node):
        return Text(_("the element %(name)s is not part of the FA(3) schema; remove it (or ask the "
                      "issuer to)"), {"name": etree.QName(value_node).localname})
    if "This element is not expected" in msg:
        expected = _names(msg.split("Expected is", 1)[-1]) if "Expected is" in msg else []
        parent = value_node.getparent() if value_node is not None else None
        missing = _missing_required(parent)
        if missing:
            return say(_("the %(missing)s is missing before the %(what)s"),
                       missing=_and(codes.label(n) for n in missing))
        if expected and len(expected) < 10:
            # libxml2 lists every element allowed here; the last one is the first required
            return say(_("the %(missing)s is missing before the %(what)s (or the elements are in "
                         "the wrong order)"), missing=codes.label(expected[-1]))
        if expected:
            return say(_("the %(what)s is not allowed here (wrong order or a missing element); "
                         "allowed here: %(allowed)s ..."),
                       allowed=_join((codes.label(n) for n in expected[:5]), ", "))
        return say(_("the %(what)s is not allowed here"))
    if "is not a valid value of" in msg or "[facet" in msg:
        return say(_("the %(what)s has an invalid value"))
    if attribute:
        return say(_("attribute '%(attribute)s' of the %(what)s is wrong"), attribute=attribute)
    return msg


#: mandatory children (in schema order) of the containers where they are most often forgotten
REQUIRED_CHILDREN = {
    "Faktura": ("Naglowek", "Podmiot1", "Podmiot2", "Fa"),
    "Naglowek": ("KodFormularza", "WariantFormularza", "DataWytworzeniaFa"),
    "Podmiot1": ("DaneIdentyfikacyjne", "Adres"),
    "Podmiot2": ("DaneIdentyfikacyjne", "JST", "GV"),
    "Fa": ("KodWaluty", "P_1", "P_2", "P_15", "Adnotacje", "RodzajFaktury"),
    "Adnotacje": ("P_16", "P_17", "P_18", "P_18A", "Zwolnienie", "NoweSrodkiTransportu", "P_23",
                  "PMarzy"),
    "FaWiersz": ("NrWierszaFa",),
    "DaneFaKorygowanej": ("DataWystFaKorygowanej", "NrFaKorygowanej"),
    "Zamowienie": ("WartoscZamowienia", "ZamowienieWiersz"),
}


def _missing_required(container):
    if container is None or not isinstance(container.tag, str):
        return []
    required = REQUIRED_CHILDREN.get(etree.QName(container).localname)
    if not required:
        return []
    present = {etree.QName(c).localname for c in container if isinstance(c.tag, str)}
    return [name for name in required if name not in present]


def humanize_error(error, doc_root):
    """Build a Problem from one ``lxml`` schema error entry."""
    raw = error.message
    m = _ELEMENT_RE.match(raw)
    element = m.group(1) if m else None
    attribute = m.group(2) if m else None
    node = None
    if error.path and doc_root is not None:
        try:
            found = doc_root.getroottree().xpath(error.path)
            node = found[0] if found else None
        except etree.XPathError:  # pragma: no cover - libxml2 paths are valid XPath
            node = None
    sentence = _explain(raw[m.end():] if m else raw, element, attribute, node)
    where = _where(node.getparent() if node is not None and element not in (
        "FaWiersz", "Podmiot3") else node)
    if where and element in ("Podmiot1", "Podmiot2"):
        where = ""
    dot = not str(sentence).endswith(".")
    if where:
        template = _("%(where)s: %(sentence)s.") if dot else "%(where)s: %(sentence)s"
        params = {"where": where, "sentence": sentence}
    else:
        # the Odoo layer capitalises the translated sentence (ksef_i18n.problem_message)
        template = _("%(sentence)s.") if dot else "%(sentence)s"
        params = {"sentence": _Capitalized(sentence.template, sentence.params)
                  if isinstance(sentence, Text) else sentence[:1].upper() + sentence[1:]}
    return Problem(template, element=element, path=error.path, raw=raw, code="xsd",
                   params=params)


_vocabulary = []


def fa3_element_names():
    """Every element name the shipped FA(3) schema set declares (a frozenset, read once)."""
    with _lock:
        if not _vocabulary:
            names = set()
            parser = etree.XMLParser(no_network=True, resolve_entities=False)
            for folder, _dirs, files in os.walk(SHIPPED_SCHEMA_DIR):
                for name in files:
                    if name.endswith(".xsd"):
                        tree = etree.parse(os.path.join(folder, name), parser)
                        names.update(tree.xpath("//xsd:element/@name", namespaces={
                            "xsd": "http://www.w3.org/2001/XMLSchema"}))
            _vocabulary.append(frozenset(names))
        return _vocabulary[0]


def is_fa3_element(node):
    """True when ``node`` is in the FA(3) namespace and named like an element of the schema."""
    qname = etree.QName(node)
    return qname.namespace == codes.NS and qname.localname in fa3_element_names()


def validate_all(root, schema, max_passes=10):
    """Validate like ``validate_tree`` but report what libxml2 hides behind a structural error.

    libxml2 stops checking a container's remaining children at its first structural error (a
    missing, foreign or misplaced element), so one problem can hide the others. Here the check
    is repeated on a copy (never on ``root``) up to ``max_passes`` times, each time after a
    repair of the structural problems found: a foreign or misplaced element is taken out, a
    missing required one is put in as a placeholder whose own errors are not reported. Every
    problem is reported once; [] means valid.
    """
    work = copy.deepcopy(root)
    placeholders = []
    problems = []
    seen = set()

    def placeholder(node):
        while node is not None:
            if any(node is p for p in placeholders):
                return True
            node = node.getparent()
        return False

    for _pass in range(max_passes):
        if schema.validate(work.getroottree()):
            break
        repairs = []
        for error in schema.error_log:
            try:
                found = work.getroottree().xpath(error.path) if error.path else []
            except etree.XPathError:  # pragma: no cover - libxml2 paths are valid XPath
                found = []
            node = found[0] if found else None
            if node is not None and placeholder(node):
                continue
            problem = humanize_error(error, work)
            if (str(problem), problem.raw) not in seen:
                seen.add((str(problem), problem.raw))
                problems.append(problem)
            if node is not None and node is not work:
                repairs.append((node, error.message))
        repaired = False
        for node, message in repairs:
            parent = node.getparent()
            if parent is None or placeholder(node):
                continue                      # inside an element already taken out
            if "This element is not expected" in message:
                missing = _missing_required(parent) if is_fa3_element(node) else []
                if missing:
                    filler = etree.Element("{%s}%s" % (codes.NS, missing[0]))
                    node.addprevious(filler)
                    placeholders.append(filler)
                else:
                    parent.remove(node)
                repaired = True
            elif "Missing child element(s)" in message:
                missing = _missing_required(node)
                if missing:
                    filler = etree.SubElement(node, "{%s}%s" % (codes.NS, missing[0]))
                    placeholders.append(filler)
                    repaired = True
        if not repaired:
            break
    return problems


def validate_tree(root, schema):
    """Validate an lxml element (FA(3) ``Faktura``) and return readable Problems ([] = valid)."""
    if schema.validate(root.getroottree() if hasattr(root, "getroottree") else root):
        return []
    return [humanize_error(e, root) for e in schema.error_log]


def validate_xml(data, schema=None):
    """Parse ``data`` safely and validate it; return readable Problems ([] = valid).

    ``schema`` defaults to ``load_schema()``. Malformed/hostile XML raises XMLSecurityError.
    """
    from ..xmlsafe import parse
    root = parse(data, max_bytes=codes.MAX_INVOICE_BYTES_WITH_ATTACHMENT, what=_("invoice XML"))
    return validate_tree(root, schema if schema is not None else load_schema())
