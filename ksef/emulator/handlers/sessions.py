"""Online sessions: open, send, close, statuses, invoice lists, UPO; invoice processing."""
import datetime
import secrets
import time

from ...crypto import aes_decrypt, b64decode, b64encode, sha256_b64
from ...ksef_number import make_ksef_number
from ..common import ApiError, bad_request, iso, parse_iso, warsaw_date
from ..fa_reader import FA2_NS, FA3_NS, MAX_INVOICE_BYTES, Rejected, parse_invoice
from ..server import Response, empty, json_response, route
from ..upo import build_upo, session_pages
from .util import b64_field, continuation, read_encryption, require, unwrap_aes_key

MAX_INVOICES = 10000
UPO_LINK_LIFETIME = 3 * 24 * 3600
WRITE = ("InvoiceWrite", "EnforcementOperations")
READ = ("InvoiceWrite", "InvoiceRead", "Introspection", "EnforcementOperations")

SESSION_STATUS = {
    100: "Sesja interaktywna otwarta",
    170: "Sesja interaktywna zamknięta",
    200: "Sesja interaktywna przetworzona pomyślnie",
    415: "Błąd odszyfrowania dostarczonego klucza",
    440: "Sesja anulowana",
    445: "Błąd weryfikacji, brak poprawnych faktur",
}
INVOICE_STATUS = {
    100: "Faktura przyjęta do dalszego przetwarzania",
    150: "Trwa przetwarzanie",
    200: "Sukces",
    405: "Przetwarzanie anulowane z powodu błędu sesji",
    410: "Nieprawidłowy zakres uprawnień",
    415: "Brak możliwości wysyłania faktury z załącznikiem",
    430: "Błąd weryfikacji pliku faktury",
    435: "Błąd odszyfrowania pliku",
    440: "Duplikat faktury",
    450: "Błąd weryfikacji semantyki dokumentu faktury",
}
FORM_CODES = {("FA (3)", "1-0E", "FA"): FA3_NS, ("FA (2)", "1-0E", "FA"): FA2_NS}


def _status(table, code, details=None, extensions=None):
    status = {"code": code, "description": table[code]}
    if details:
        status["details"] = list(details)
    if extensions:
        status["extensions"] = dict(extensions)
    return status


# --- processing -------------------------------------------------------------------

def _dup_index(emu):
    index = getattr(emu, "_dup_index", None)
    if index is None:
        index = {}
        for inv in emu.state.table("invoices").values():
            if inv["status"]["code"] == 200:
                index[_dup_key(inv)] = inv["referenceNumber"]
        emu._dup_index = index
    return index


def _dup_key(fields):
    return "%s|%s|%s" % (fields.get("sellerNip"), fields.get("rodzajFaktury"), fields.get("invoiceNumber"))


def _finish_invoice(emu, inv, session):
    """Decide the final status of an accepted invoice (the asynchronous part of KSeF)."""
    inv["acquisitionTs"] = max(inv["readyAt"], inv["invoicingTs"])
    content = b64decode(inv["content"]) if inv.get("content") else None
    try:
        if content is None:
            raise Rejected(435, [])
        root, fields = parse_invoice(content, emu.schema_dir, FORM_CODES.get(
            (session["formCode"]["systemCode"], session["formCode"]["schemaVersion"],
             session["formCode"]["value"]), FA3_NS))
        inv.update({k: v for k, v in fields.items()})
        ctx_nip = session["context"]["value"][:10]
        if fields["sellerNip"] != ctx_nip:
            raise Rejected(410, ["Kontekst %s nie ma uprawnień do wystawiania faktur w imieniu "
                                 "sprzedawcy %s." % (session["context"]["value"], fields["sellerNip"])])
        if fields["hasAttachment"] and not inv.get("hashOfCorrectedInvoice") \
                and session.get("type") != "Batch":
            raise Rejected(415, ["Faktury z załącznikiem można wysyłać tylko w sesji wsadowej."])
        accepted_day = warsaw_date(inv["acquisitionTs"])
        if fields["issueDate"] and datetime.date.fromisoformat(fields["issueDate"]) > accepted_day:
            raise Rejected(450, ["Data wystawienia faktury (P_1 = %s) jest późniejsza niż data "
                                 "przyjęcia do KSeF (%s)." % (fields["issueDate"], accepted_day)])
        index = _dup_index(emu)
        original_ref = index.get(_dup_key(fields))
        if original_ref:
            original = emu.state.get("invoices", original_ref)
            raise _duplicate(original)
    except Rejected as rej:
        inv["status"] = _status(INVOICE_STATUS, rej.code, rej.details,
                                getattr(rej, "extensions", None))
        inv["content"] = None if rej.code == 435 else inv.get("content")
        return
    invoicing_day = warsaw_date(inv["invoicingTs"])
    auto_offline = bool(fields["issueDate"]) and datetime.date.fromisoformat(
        fields["issueDate"]) < invoicing_day
    inv["invoicingMode"] = "Offline" if inv["offlineMode"] or auto_offline else "Online"
    inv["ksefNumber"] = make_ksef_number(fields["sellerNip"], warsaw_date(inv["acquisitionTs"]),
                                         secrets.token_hex(6).upper())
    inv["permanentStorageTs"] = inv["acquisitionTs"]
    inv["status"] = _status(INVOICE_STATUS, 200)
    _dup_index(emu)[_dup_key(fields)] = inv["referenceNumber"]
    inv["upoLink"] = _new_link(emu, session["referenceNumber"], invoice=inv["referenceNumber"])


def _duplicate(original):
    rej = Rejected(440, ["Duplikat faktury %s (numer KSeF %s)."
                         % (original["invoiceNumber"], original["ksefNumber"])])
    rej.extensions = {"originalSessionReferenceNumber": original["sessionRef"],
                      "originalKsefNumber": original["ksefNumber"]}
    return rej


def _finish_session(emu, session):
    invoices = [emu.state.get("invoices", ref) for ref in session["invoiceRefs"]]
    if not invoices:
        session["status"] = _status(SESSION_STATUS, 440, ["Nie przesłano faktur"])
    else:
        ok = [inv for inv in invoices if inv["status"]["code"] == 200]
        if not ok:
            session["status"] = _status(SESSION_STATUS, 445)
        else:
            pages = session_pages(ok)
            session["upoPages"] = []
            for first, last, chunk in pages:
                ref = emu.new_reference("EU")
                session["upoPages"].append({
                    "referenceNumber": ref, "first": first, "last": last,
                    "invoiceRefs": [inv["referenceNumber"] for inv in chunk],
                    "link": _new_link(emu, session["referenceNumber"], upo=ref)})
            session["status"] = _status(SESSION_STATUS, 200)
    session["dateUpdated"] = time.time()
    emu.state.put("sessions", session["referenceNumber"], session)


def advance(emu):
    """Finish invoices whose processing time has come; close expired sessions; finish closed ones."""
    current = time.time()
    pending = getattr(emu, "_pending", None)
    if pending is None:
        pending = emu._pending = {ref for ref, inv in emu.state.table("invoices").items()
                                  if inv["status"]["code"] in (100, 150)}
    for ref in sorted(pending, key=lambda r: emu.state.get("invoices", r)["readyAt"]):
        inv = emu.state.get("invoices", ref)
        if inv["readyAt"] <= current:
            session = emu.state.get("sessions", inv["sessionRef"])
            _finish_invoice(emu, inv, session)
            emu.state.put("invoices", ref, inv)
            session["dateUpdated"] = current
            emu.state.put("sessions", session["referenceNumber"], session)
            pending.discard(ref)
    for session in list(emu.state.table("sessions").values()):
        code = session["status"]["code"]
        if code == 100 and session["validUntil"] <= current and session.get("type") == "Batch":
            session["status"] = {"code": 440, "description": "Sesja anulowana",
                                 "details": ["Przekroczono czas wysyłki"]}
            session["closedAt"] = session["validUntil"]
            emu.state.put("sessions", session["referenceNumber"], session)
            continue
        if code == 100 and session["validUntil"] <= current:
            session["status"] = _status(SESSION_STATUS, 170)
            session["closedAt"] = session["validUntil"]
            code = 170
        if code == 170 and not any(r in pending for r in session["invoiceRefs"]):
            _finish_session(emu, session)


def _new_link(emu, session_ref, invoice=None, upo=None):
    link = secrets.token_urlsafe(24)
    emu.state.put("upo_links", link, {"session": session_ref, "invoice": invoice, "upo": upo,
                                      "created": time.time()})
    return link


def _link_url(emu, link):
    return "%s/storage/upo/%s" % (emu.root_url, link)


# --- operations ---------------------------------------------------------------------

def _session_for(emu, req, op, online=True):
    ref = req.params["referenceNumber"]
    session = emu.state.get("sessions", ref)
    if session is None or session["context"] != op["context"] or (online and session["type"] != "Online"):
        raise bad_request(21173, "Sesja o numerze referencyjnym %s nie została znaleziona." % ref)
    return session


@route("POST", "/sessions/online")
def open_online(emu, req):
    _bearer, op = emu.authorize(req, permissions=WRITE)
    body = req.json()
    require(body, "formCode", "encryption")
    form = body["formCode"] if isinstance(body["formCode"], dict) else {}
    key = (form.get("systemCode"), form.get("schemaVersion"), form.get("value"))
    if key not in FORM_CODES:
        raise bad_request(21405, "Nieobsługiwany kod formularza %s/%s/%s (obsługiwane: FA (3) 1-0E FA)."
                          % key)
    wrapped, iv = read_encryption(emu, body)
    aes_key = unwrap_aes_key(emu, wrapped)
    status = _status(SESSION_STATUS, 100 if aes_key else 415)
    ref = emu.new_reference("SO")
    created = time.time()
    session = {"referenceNumber": ref, "type": "Online", "context": op["context"],
               "formCode": {"systemCode": key[0], "schemaVersion": key[1], "value": key[2]},
               "status": status, "dateCreated": created, "dateUpdated": created,
               "validUntil": created + emu.session_lifetime, "closedAt": None,
               "aesKey": b64encode(aes_key) if aes_key else None, "iv": b64encode(iv),
               "invoiceRefs": [], "authRef": op["referenceNumber"],
               "ksefTokenReference": op.get("ksefTokenReference"),
               "authDocumentHash": op.get("authDocumentHash") or sha256_b64(op["referenceNumber"].encode()),
               "upoPages": [], "offlineMode": False}
    emu.state.put("sessions", ref, session)
    return json_response({"referenceNumber": ref, "validUntil": iso(session["validUntil"])}, status=201)


def _hash_field(body, name):
    value = body.get(name)
    if not isinstance(value, str) or len(value) != 44:
        raise bad_request(21405, "Pole '%s' musi być skrótem SHA-256 w Base64 (44 znaki)." % name)
    b64_field(body, name, 32)
    return value


def _size_field(body, name):
    value = body.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise bad_request(21405, "Pole '%s' musi być dodatnią liczbą całkowitą." % name)
    return value


@route("POST", "/sessions/online/{referenceNumber}/invoices")
def send_invoice(emu, req):
    _bearer, op = emu.authorize(req, permissions=WRITE)
    session = _session_for(emu, req, op)
    if session["status"]["code"] != 100:
        raise bad_request(21180, "Status sesji %s uniemożliwia wysyłkę faktur." % session["status"]["code"])
    body = req.json()
    require(body, "invoiceHash", "invoiceSize", "encryptedInvoiceHash", "encryptedInvoiceSize",
            "encryptedInvoiceContent")
    invoice_hash = _hash_field(body, "invoiceHash")
    invoice_size = _size_field(body, "invoiceSize")
    enc_hash = _hash_field(body, "encryptedInvoiceHash")
    enc_size = _size_field(body, "encryptedInvoiceSize")
    corrected = body.get("hashOfCorrectedInvoice")
    if corrected is not None:
        _hash_field(body, "hashOfCorrectedInvoice")
    offline = body.get("offlineMode", False)
    if not isinstance(offline, bool):
        raise bad_request(21405, "Pole 'offlineMode' musi być wartością logiczną.")
    if corrected and not offline:
        # korekta-techniczna.md: a technical correction is sent with offlineMode: true
        raise bad_request(21405, "Korekta techniczna (hashOfCorrectedInvoice) wymaga offlineMode: true.")
    if len(session["invoiceRefs"]) >= MAX_INVOICES:
        raise bad_request(21155, "Sesja o numerze referencyjnym %s osiągnęła dozwolony limit liczby "
                                 "faktur %d." % (session["referenceNumber"], MAX_INVOICES))
    if invoice_size > MAX_INVOICE_BYTES:
        raise bad_request(21405, "Rozmiar faktury %d B przekracza limit %d B dla sesji interaktywnej."
                          % (invoice_size, MAX_INVOICE_BYTES))
    encrypted = b64_field(body, "encryptedInvoiceContent")
    if len(encrypted) != enc_size:
        raise bad_request(21402, "Długość treści nie zgadza się z rozmiarem pliku.")
    if sha256_b64(encrypted) != enc_hash:
        raise bad_request(21403, "Skrót treści nie zgadza się ze skrótem pliku.")
    plain = None
    try:
        plain = aes_decrypt(encrypted, b64decode(session["aesKey"]), b64decode(session["iv"]))
    except (ValueError, TypeError):
        plain = None
    if plain is not None:
        if len(plain) != invoice_size:
            raise bad_request(21402, "Długość treści nie zgadza się z rozmiarem pliku.")
        if len(plain) > MAX_INVOICE_BYTES:
            raise bad_request(21405, "Rozmiar faktury %d B przekracza limit %d B dla sesji "
                                     "interaktywnej." % (len(plain), MAX_INVOICE_BYTES))
        if sha256_b64(plain) != invoice_hash:
            raise bad_request(21403, "Skrót treści nie zgadza się ze skrótem pliku.")
    if corrected:
        for other in emu.state.table("invoices").values():
            if other["invoiceHash"] == corrected and other["status"]["code"] == 200:
                raise bad_request(21167, "Nie można wysłać korekty technicznej do prawidłowo "
                                         "przetworzonej faktury.")
            if (other.get("hashOfCorrectedInvoice") == corrected
                    and other["status"]["code"] in (100, 150, 200)):
                raise bad_request(21166, "Faktura posiada już przetworzoną prawidłowo korektę techniczną.")
    ref = emu.new_reference("EE")
    stamp = time.time()
    inv = {"referenceNumber": ref, "sessionRef": session["referenceNumber"],
           "ordinalNumber": len(session["invoiceRefs"]) + 1, "invoiceHash": invoice_hash,
           "invoiceSize": invoice_size, "invoicingTs": stamp, "readyAt": stamp + emu.processing_delay,
           "offlineMode": offline, "hashOfCorrectedInvoice": corrected,
           "content": b64encode(plain) if plain is not None else None,
           "status": _status(INVOICE_STATUS, 150), "ksefNumber": None, "acquisitionTs": None,
           "permanentStorageTs": None, "invoicingMode": None, "invoiceNumber": None,
           "formCode": session["formCode"], "context": session["context"]}
    session["invoiceRefs"].append(ref)
    session["dateUpdated"] = stamp
    if emu.processing_delay <= 0:
        _finish_invoice(emu, inv, session)
    else:
        advance(emu)  # make sure the pending set exists
        emu._pending.add(ref)
    emu.state.put("invoices", ref, inv)
    emu.state.put("sessions", session["referenceNumber"], session)
    return json_response({"referenceNumber": ref}, status=202)


@route("POST", "/sessions/online/{referenceNumber}/close")
def close_online(emu, req):
    _bearer, op = emu.authorize(req, permissions=WRITE)
    session = _session_for(emu, req, op)
    if session["status"]["code"] != 100:
        raise bad_request(21180, "Status sesji %s uniemożliwia jej zamknięcie." % session["status"]["code"])
    session["status"] = _status(SESSION_STATUS, 170)
    session["closedAt"] = session["dateUpdated"] = time.time()
    emu.state.put("sessions", session["referenceNumber"], session)
    advance(emu)
    return empty(204)


def _session_view(emu, session):
    invoices = [emu.state.get("invoices", r) for r in session["invoiceRefs"]]
    ok = sum(1 for i in invoices if i["status"]["code"] == 200)
    failed = sum(1 for i in invoices if i["status"]["code"] >= 400)
    view = {"status": session["status"], "dateCreated": iso(session["dateCreated"]),
            "dateUpdated": iso(session["dateUpdated"]), "validUntil": iso(session["validUntil"]),
            "invoiceCount": len(invoices), "successfulInvoiceCount": ok, "failedInvoiceCount": failed}
    if session["status"]["code"] == 200 and session.get("upoPages"):
        view["upo"] = {"pages": [{
            "referenceNumber": p["referenceNumber"], "downloadUrl": _link_url(emu, p["link"]),
            "downloadUrlExpirationDate": iso(
                (emu.state.get("upo_links", p["link"]) or {"created": time.time()})["created"]
                + UPO_LINK_LIFETIME)}
            for p in session["upoPages"]]}
    return view, len(invoices), ok, failed


@route("GET", "/sessions/{referenceNumber}")
def session_status(emu, req):
    _bearer, op = emu.authorize(req, permissions=READ)
    session = _session_for(emu, req, op, online=False)
    return json_response(_session_view(emu, session)[0])


_LIST_STATUS = {"InProgress": (100, 150, 170), "Succeeded": (200,),
                "Failed": (405, 415, 420, 430, 435, 445, 500),
                "Cancelled": (440,)}


def _date_filter(req, name):
    value = req.q(name)
    if value is None:
        return None
    try:
        return parse_iso(value)
    except ValueError:
        raise bad_request(21405, "Nieprawidłowa data w parametrze %s." % name) from None


@route("GET", "/sessions")
def list_sessions(emu, req):
    _bearer, op = emu.authorize(req, permissions=READ)
    kind = req.q("sessionType")
    if kind not in ("Online", "Batch"):
        raise bad_request(21405, "Parametr sessionType jest wymagany (Online lub Batch).")
    items = [s for s in emu.state.table("sessions").values()
             if s["context"] == op["context"] and s["type"] == kind]
    if not set(op.get("permissions") or []) & {"Introspection", "EnforcementOperations"}:
        own = op.get("subject")
        items = [s for s in items if (emu.state.get("auth", s["authRef"]) or {}).get("subject") == own]
    ref = req.q("referenceNumber")
    if ref:
        items = [s for s in items if s["referenceNumber"] == ref]
    for name, field, low in (("dateCreatedFrom", "dateCreated", True),
                             ("dateCreatedTo", "dateCreated", False),
                             ("dateClosedFrom", "closedAt", True), ("dateClosedTo", "closedAt", False),
                             ("dateModifiedFrom", "dateUpdated", True),
                             ("dateModifiedTo", "dateUpdated", False)):
        bound = _date_filter(req, name)
        if bound is None:
            continue
        items = [s for s in items if s.get(field) is not None
                 and (s[field] >= bound if low else s[field] <= bound)]
    statuses = req.q_list("statuses")
    if statuses:
        if any(s not in _LIST_STATUS for s in statuses):
            raise bad_request(21405, "Nieprawidłowa wartość parametru statuses.")
        codes = {c for s in statuses for c in _LIST_STATUS[s]}
        items = [s for s in items if s["status"]["code"] in codes]
    items.sort(key=lambda s: s["dateCreated"], reverse=True)
    page, nxt = continuation(req, items, default_size=10, min_size=10, max_size=1000)
    result = []
    for session in page:
        view, total, ok, failed = _session_view(emu, session)
        result.append({"referenceNumber": session["referenceNumber"], "status": view["status"],
                       "dateCreated": view["dateCreated"], "dateUpdated": view["dateUpdated"],
                       "validUntil": view["validUntil"], "totalInvoiceCount": total,
                       "successfulInvoiceCount": ok, "failedInvoiceCount": failed})
    return json_response({"continuationToken": nxt, "sessions": result})


def invoice_view(emu, inv):
    view = {"ordinalNumber": inv["ordinalNumber"], "invoiceNumber": inv.get("invoiceNumber"),
            "ksefNumber": inv.get("ksefNumber"), "referenceNumber": inv["referenceNumber"],
            "invoiceHash": inv["invoiceHash"], "invoicingDate": iso(inv["invoicingTs"]),
            "acquisitionDate": iso(inv["acquisitionTs"]) if inv.get("ksefNumber") else None,
            "permanentStorageDate": iso(inv["permanentStorageTs"]) if inv.get("ksefNumber") else None,
            "invoicingMode": inv.get("invoicingMode"), "invoiceFileName": inv.get("invoiceFileName"),
            "status": inv["status"]}
    if inv.get("upoLink"):
        view["upoDownloadUrl"] = _link_url(emu, inv["upoLink"])
        link = emu.state.get("upo_links", inv["upoLink"]) or {"created": time.time()}
        view["upoDownloadUrlExpirationDate"] = iso(link["created"] + UPO_LINK_LIFETIME)
    return {k: v for k, v in view.items() if v is not None or k in ("status",)}


def _invoice_list(emu, req, failed_only):
    _bearer, op = emu.authorize(req, permissions=READ)
    session = _session_for(emu, req, op, online=False)
    items = [emu.state.get("invoices", r) for r in session["invoiceRefs"]]
    if failed_only:
        items = [i for i in items if i["status"]["code"] >= 400]
    page, nxt = continuation(req, items, default_size=10, min_size=10, max_size=1000)
    return json_response({"continuationToken": nxt, "invoices": [invoice_view(emu, i) for i in page]})


@route("GET", "/sessions/{referenceNumber}/invoices")
def session_invoices(emu, req):
    return _invoice_list(emu, req, False)


@route("GET", "/sessions/{referenceNumber}/invoices/failed")
def session_failed_invoices(emu, req):
    return _invoice_list(emu, req, True)


def _invoice_in(emu, session, ref):
    inv = emu.state.get("invoices", ref)
    if inv is None or inv["sessionRef"] != session["referenceNumber"]:
        raise bad_request(21164, "Faktura o numerze referencyjnym %s nie została znaleziona." % ref)
    return inv


@route("GET", "/sessions/{referenceNumber}/invoices/{invoiceReferenceNumber}")
def invoice_status(emu, req):
    _bearer, op = emu.authorize(req, permissions=READ)
    session = _session_for(emu, req, op, online=False)
    return json_response(invoice_view(emu, _invoice_in(emu, session, req.params["invoiceReferenceNumber"])))


def xml_response(data):
    return Response(200, data, "application/xml", {"x-ms-meta-hash": sha256_b64(data)})


def _invoice_upo(emu, session, inv):
    if inv["status"]["code"] != 200:
        raise bad_request(21178, "UPO o numerze KSeF %s i numerze referencyjnym sesji %s nie zostało "
                                 "znalezione." % (inv.get("ksefNumber"), session["referenceNumber"]))
    return xml_response(build_upo(session, [inv]))


@route("GET", "/sessions/{referenceNumber}/invoices/{invoiceReferenceNumber}/upo")
def invoice_upo(emu, req):
    _bearer, op = emu.authorize(req, permissions=READ)
    session = _session_for(emu, req, op, online=False)
    return _invoice_upo(emu, session, _invoice_in(emu, session, req.params["invoiceReferenceNumber"]))


@route("GET", "/sessions/{referenceNumber}/invoices/ksef/{ksefNumber}/upo")
def invoice_upo_by_number(emu, req):
    _bearer, op = emu.authorize(req, permissions=READ)
    session = _session_for(emu, req, op, online=False)
    number = req.params["ksefNumber"]
    for ref in session["invoiceRefs"]:
        inv = emu.state.get("invoices", ref)
        if inv.get("ksefNumber") == number:
            return _invoice_upo(emu, session, inv)
    raise bad_request(21178, "UPO o numerze KSeF %s i numerze referencyjnym sesji %s nie zostało "
                             "znalezione." % (number, session["referenceNumber"]))


def _session_upo(emu, session, upo_ref):
    pages = session.get("upoPages") or []
    for number, page in enumerate(pages, 1):
        if page["referenceNumber"] == upo_ref:
            invoices = [emu.state.get("invoices", r) for r in page["invoiceRefs"]]
            total = sum(len(p["invoiceRefs"]) for p in pages)
            return xml_response(build_upo(session, invoices,
                                          (number, len(pages), page["first"], page["last"], total)))
    raise bad_request(21178, "UPO o numerze referencyjnym %s dla sesji %s nie zostało znalezione."
                      % (upo_ref, session["referenceNumber"]))


@route("GET", "/sessions/{referenceNumber}/upo/{upoReferenceNumber}")
def session_upo(emu, req):
    _bearer, op = emu.authorize(req, permissions=READ)
    session = _session_for(emu, req, op, online=False)
    return _session_upo(emu, session, req.params["upoReferenceNumber"])


def serve_storage(emu, req):
    """Pre-signed UPO download links (no Authorization, not rate limited)."""
    if req.method != "GET":
        raise ApiError(405, detail="Only GET is allowed on download links.")
    parts = req.path.split("/")
    link = emu.state.get("upo_links", parts[-1]) if len(parts) == 4 and parts[2] == "upo" else None
    if link is None or link["created"] < time.time() - UPO_LINK_LIFETIME:
        raise ApiError(404, detail="The download link is unknown or expired.")
    session = emu.state.get("sessions", link["session"])
    if link["invoice"]:
        return _invoice_upo(emu, session, emu.state.get("invoices", link["invoice"]))
    return _session_upo(emu, session, link["upo"])
