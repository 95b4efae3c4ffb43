"""Invoice exports: POST /invoices/exports, GET /invoices/exports/{ref}, part download links.

A package is built when the export is requested (a snapshot), from the same filter code as
POST /invoices/query/metadata, sorted ascending by the filter's date, cut at
``emu.export_invoice_cap`` invoices (10 000) or ``emu.export_size_cap`` bytes of compressed data
(1 GB); the ZIP holds ``{ksefNumber}.xml`` files plus ``_metadata.json`` and is split into parts of
``emu.export_part_size`` bytes (50 MB), each AES-256-CBC encrypted with the caller's key and IV.
The status stays 100 for ``emu.export_delay`` seconds. Packages live in memory only.
"""
import io
import json
import time
import zipfile

from ...crypto import aes_encrypt, b64decode, sha256_b64
from ..common import ApiError, bad_request, iso
from ..server import Response, json_response, route
from .invoices import READ, metadata, select_invoices
from .util import read_encryption, require, unwrap_aes_key

MAX_RUNNING = 10
EXPORT_INVOICE_CAP = 10000
EXPORT_SIZE_CAP = 1024 ** 3
EXPORT_PART_SIZE = 50 * 1024 * 1024
STATUS_LIFETIME = 7 * 24 * 3600
LINK_LIFETIME = 3600

EXPORT_STATUS = {
    100: "Eksport faktur w toku",
    200: "Eksport faktur zakończony sukcesem",
    210: "Eksport faktur wygasł i nie jest już dostępny do pobrania",
    415: "Błąd odszyfrowania dostarczonego klucza",
    420: "Zakres filtrowania wykracza poza dostępny zakres danych",
}
_LAST_FIELD = {"Issue": "lastIssueDate", "Invoicing": "lastInvoicingDate",
               "PermanentStorage": "lastPermanentStorageDate"}


def _blobs(emu):
    blobs = getattr(emu, "blobs", None)
    if blobs is None:
        blobs = emu.blobs = {}
    return blobs


def _exports(emu):
    table = getattr(emu, "exports", None)
    if table is None:
        table = emu.exports = {}
    return table


def _build_package(emu, ref, items, date_type, key, iv, only_metadata):
    cap = int(getattr(emu, "export_invoice_cap", EXPORT_INVOICE_CAP))
    size_cap = int(getattr(emu, "export_size_cap", EXPORT_SIZE_CAP))
    part_size = max(16, int(getattr(emu, "export_part_size", EXPORT_PART_SIZE)))
    buffer = io.BytesIO()
    included = []
    compressed = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for inv in items:
            if len(included) >= cap:
                break
            if not only_metadata:
                content = b64decode(inv["content"])
                info = zipfile.ZipInfo("%s.xml" % inv["ksefNumber"], date_time=(2025, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, content)
                compressed = buffer.tell()
                if included and compressed > size_cap:   # this one does not fit any more
                    break
            included.append(inv)
        meta = json.dumps({"invoices": [metadata(i) for i in included]}, ensure_ascii=False)
        info = zipfile.ZipInfo("_metadata.json", date_time=(2025, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, meta.encode("utf-8"))
    data = buffer.getvalue()
    truncated = len(included) < len(items)
    parts = []
    for number, start in enumerate(range(0, len(data), part_size), 1):
        chunk = data[start:start + part_size]
        encrypted = aes_encrypt(chunk, key, iv)
        name = "%s-%03d.zip.aes" % (ref, number)
        _blobs(emu)["export/%s/%d" % (ref, number)] = encrypted
        parts.append({"ordinalNumber": number, "partName": name, "partSize": len(chunk),
                      "partHash": sha256_b64(chunk), "encryptedPartSize": len(encrypted),
                      "encryptedPartHash": sha256_b64(encrypted)})
    package = {"invoiceCount": len(included), "size": len(data), "parts": parts,
               "isTruncated": truncated}
    if truncated and included:
        last = included[-1]
        if date_type == "Issue":
            package["lastIssueDate"] = last["issueDate"]
        else:
            package[_LAST_FIELD[date_type]] = iso(
                last["invoicingTs" if date_type == "Invoicing" else "permanentStorageTs"])
    return package


@route("POST", "/invoices/exports")
def start_export(emu, req):
    _bearer, op = emu.authorize(req, permissions=READ)
    body = req.json()
    require(body, "encryption", "filters")
    filters = body["filters"] if isinstance(body["filters"], dict) else {}
    wrapped, iv = read_encryption(emu, body)
    compression = body.get("compressionType") or "Zip"
    if compression != "Zip":
        raise bad_request(21405, "Emulator obsługuje tylko compressionType = Zip.")
    context = op["context"]
    if filters.get("subjectType") == "SubjectAuthorized" and context["type"] == "Nip":
        raise bad_request(21181, "Nie można wyeksportować paczki faktur dla wybranego podmiotu "
                                 "(SubjectAuthorized) i zalogowanego identyfikatora kontekstu (Nip).")
    now = time.time()
    running = [e for e in _exports(emu).values()
               if e["context"] == context and e["status"]["code"] == 100 and e["readyAt"] > now]
    if len(running) >= MAX_RUNNING:
        raise bad_request(21182, "Dla uwierzytelnionego podmiotu w bieżącym kontekście osiągnięto "
                                 "maksymalny limit %d równoczesnych eksportów faktur. Spróbuj ponownie "
                                 "później." % MAX_RUNNING)
    ref = emu.new_reference("EH")
    record = {"referenceNumber": ref, "context": context, "created": now,
              "readyAt": now + float(getattr(emu, "export_delay", 0.0) or 0.0), "package": None}
    try:
        items, hwm = select_invoices(emu, context["value"][:10], filters)
    except ApiError as err:
        if err.code != 21183:
            raise
        record["final"] = {"code": 420, "description": EXPORT_STATUS[420],
                           "details": ["Parametr dateRange.from jest późniejszy niż "
                                       "PermanentStorageHwmDate przy włączonym "
                                       "restrictToPermanentStorageHwmDate."]}
    else:
        key = unwrap_aes_key(emu, wrapped)
        if key is None:
            record["final"] = {"code": 415, "description": EXPORT_STATUS[415]}
        else:
            package = _build_package(emu, ref, items, filters["dateRange"]["dateType"], key, iv,
                                     bool(body.get("onlyMetadata")))
            if hwm is not None:
                package["permanentStorageHwmDate"] = iso(hwm)
            record["package"] = package
            record["final"] = {"code": 200, "description": EXPORT_STATUS[200]}
    record["status"] = {"code": 100, "description": EXPORT_STATUS[100]}
    _exports(emu)[ref] = record
    return json_response({"referenceNumber": ref}, status=201)


@route("GET", "/invoices/exports/{referenceNumber}")
def export_status(emu, req):
    _bearer, op = emu.authorize(req, permissions=READ)
    ref = req.params["referenceNumber"]
    record = _exports(emu).get(ref)
    if record is None or record["context"] != op["context"]:
        raise bad_request(21175, "Wynik zapytania o podanym identyfikatorze nie istnieje.")
    now = time.time()
    if record["created"] + STATUS_LIFETIME < now:
        raise ApiError(410, detail="Operacja wygasła i nie jest już dostępna.")
    if record["readyAt"] > now:
        return json_response({"status": record["status"]})
    record["status"] = record["final"]
    record.setdefault("completed", max(record["readyAt"], record["created"]))
    result = {"status": record["status"], "completedDate": iso(record["completed"])}
    package = record.get("package")
    if package is not None:
        expires = now + LINK_LIFETIME
        package = dict(package)
        package["parts"] = [dict(part, method="GET", expirationDate=iso(expires),
                                 url="%s/storage/export/%s/%d" % (emu.root_url, ref,
                                                                  part["ordinalNumber"]))
                            for part in package["parts"]]
        result["package"] = package
        result["packageExpirationDate"] = iso(record["created"] + STATUS_LIFETIME)
    return json_response(result)


def serve_download(emu, req):
    """GET /storage/export/{ref}/{n}: an encrypted package part (no Authorization, no limits)."""
    if req.method != "GET":
        raise ApiError(405, detail="Only GET is allowed on download links.")
    parts = req.path.strip("/").split("/")
    blob = None
    if len(parts) == 4:
        blob = _blobs(emu).get("export/%s/%s" % (parts[2], parts[3]))
    if blob is None:
        raise ApiError(404, detail="The download link is unknown or expired.")
    return Response(200, blob, "application/octet-stream", {"x-ms-meta-hash": sha256_b64(blob)})
