"""Verification pages of the QR codes (KOD I, KOD II), as the ministry's qr host serves them.

The emulator's QR base URL is its own root (``http://127.0.0.1:<port>``, see
``ksef.environments.custom``), so a KOD I / KOD II printed on an invoice issued in the emulator
environment opens here when scanned on the same machine:

* ``GET /invoice/{sellerNip}/{DD-MM-YYYY}/{hash}``: is the invoice in KSeF? Seller NIP, date of
  issue, hash check against the stored file, its KSeF number, or "not (yet) in KSeF";
* ``GET /certificate/{ctxType}/{ctxValue}/{sellerNip}/{serial}/{hash}/{signature}``: the issuer
  check: the signature verified with the KSeF certificate of that serial, its type (Offline),
  validity and status, and whether the seller / context may use it.

Plain HTML, outside /v2, Polish with English below as the ministry shows it; every value that
comes from the link or the store is escaped.
"""
import base64
import datetime
import html
import time

from .. import qr
from .server import Response

PAGE = """<!DOCTYPE html>
<html lang="pl"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title}</title>
<style>body{{font-family:sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem}}
.ok{{color:#0a6b2d}}.bad{{color:#a4161a}}td{{padding:.2rem .6rem;vertical-align:top}}
.en{{color:#555;font-size:.9em}}.banner{{background:#fff3cd;padding:.5rem;border:1px solid #e0c36a}}
</style></head><body>
<p class="banner">Emulator KSeF — wersja ewaluacyjna, bez skutków prawnych.
<span class="en">KSeF emulator — evaluation, no legal effect.</span></p>
<h1>{title}</h1>
<p class="{verdict_class}"><strong>{verdict}</strong><br><span class="en">{verdict_en}</span></p>
<table>{rows}</table>
</body></html>
"""


def _e(value):
    return html.escape("" if value is None else str(value), quote=True)


def _rows(rows):
    return "".join("<tr><td>%s<br><span class=\"en\">%s</span></td><td>%s</td></tr>"
                   % (_e(pl), _e(en), _e(value)) for pl, en, value in rows)


def _page(title, ok, verdict, verdict_en, rows, status=200):
    body = PAGE.format(title=_e(title), verdict_class="ok" if ok else "bad", verdict=_e(verdict),
                       verdict_en=_e(verdict_en), rows=_rows(rows))
    return Response(status, body.encode("utf-8"), "text/html; charset=utf-8",
                    {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
                     "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})


def _not_a_link(kind):
    return _page("Weryfikacja %s" % kind, False, "Nieprawidłowy link weryfikacyjny.",
                 "Invalid verification link.", [], status=404)


def _host(req):
    headers = req.headers or {}
    return headers.get("Host") or headers.get("host") or ""


def _find_by_hash(emu, digest_b64url):
    """The stored invoice whose file hash is ``digest_b64url`` (Base64URL), or None."""
    try:
        digest = base64.urlsafe_b64decode(digest_b64url + "=")
    except ValueError:
        return None
    wanted = base64.b64encode(digest).decode()
    for row in emu.state.table("invoices").values():
        if row.get("invoiceHash") == wanted:
            return row
    return None


def _day(value):
    return datetime.datetime.strptime(value, "%Y-%m-%d").date() if value else None


def _stamp(ts):
    if not ts:
        return ""
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def serve_invoice(emu, req):
    try:
        link = qr.parse_invoice_url("http://%s%s" % (_host(req) or "localhost", req.path))
    except ValueError:
        return _not_a_link("faktury")
    with emu.lock:
        row = _find_by_hash(emu, link.invoice_hash)
        row = dict(row) if row else None
    rows = [("NIP sprzedawcy (z kodu)", "Seller NIP (from the code)", link.seller_nip),
            ("Data wystawienia (z kodu)", "Issue date (from the code)",
             link.issue_date.strftime("%d-%m-%Y")),
            ("Skrót SHA-256 pliku faktury", "SHA-256 hash of the invoice file", link.invoice_hash)]
    if row is None or not row.get("ksefNumber"):
        return _page("Weryfikacja faktury", False,
                     "Faktury o tym skrócie nie ma (jeszcze) w KSeF. Faktura wystawiona offline "
                     "musi zostać przesłana do KSeF w terminie.",
                     "No invoice with this hash is in KSeF (yet). An invoice issued offline "
                     "must be sent to KSeF in time.", rows)
    problems = []
    if row.get("sellerNip") != link.seller_nip:
        problems.append(("NIP sprzedawcy w KSeF inny niż w kodzie",
                         "The seller NIP in KSeF differs from the code", row.get("sellerNip")))
    if _day(row.get("issueDate")) != link.issue_date:
        problems.append(("Data wystawienia w KSeF inna niż w kodzie",
                         "The issue date in KSeF differs from the code", row.get("issueDate")))
    rows += [("Numer KSeF", "KSeF number", row["ksefNumber"]),
             ("Zgodność skrótu z plikiem w KSeF", "Hash matches the file in KSeF", "TAK / YES"),
             ("Data przyjęcia w KSeF", "Accepted by KSeF on", _stamp(row.get("acquisitionTs"))),
             ("Numer faktury", "Invoice number", row.get("invoiceNumber")),
             ("Sprzedawca", "Seller", row.get("sellerName"))] + problems
    if problems:
        return _page("Weryfikacja faktury", False,
                     "Faktura jest w KSeF, ale dane z kodu się nie zgadzają.",
                     "The invoice is in KSeF, but the data in the code do not match.", rows)
    return _page("Weryfikacja faktury", True, "Faktura jest w KSeF.", "The invoice is in KSeF.",
                 rows)


def serve_certificate(emu, req):
    url = "http://%s%s" % (_host(req) or "localhost", req.path)
    try:
        link = qr.parse_certificate_url(url)
    except ValueError:
        return _not_a_link("wystawcy")
    with emu.lock:
        cert = None
        for rec in emu.state.table("certs").values():
            if rec.get("certificateSerialNumber", "").upper().lstrip("0") == \
                    link.certificate_serial.lstrip("0"):
                cert = dict(rec)
                break
        invoice = _find_by_hash(emu, link.invoice_hash)
        invoice = dict(invoice) if invoice else None
    rows = [("Kontekst", "Context", "%s %s" % (link.context_type, link.context_value)),
            ("NIP sprzedawcy", "Seller NIP", link.seller_nip),
            ("Numer seryjny certyfikatu", "Certificate serial number", link.certificate_serial),
            ("Skrót SHA-256 pliku faktury", "SHA-256 hash of the invoice file", link.invoice_hash)]
    if cert is None:
        return _page("Weryfikacja wystawcy", False,
                     "KSeF nie wydał certyfikatu o tym numerze seryjnym.",
                     "KSeF issued no certificate with this serial number.", rows)
    now = time.time()
    signature_ok = qr.verify_certificate_url(url, base64.b64decode(cert["certificate"]))
    is_offline = cert.get("type") == "Offline"
    in_validity = cert.get("validFrom", 0) <= now <= cert.get("validTo", 0)
    active = cert.get("status") == "Active"
    context = cert.get("context") or {}
    owner = context.get("value") if isinstance(context, dict) else None
    subject = cert.get("subject") or []
    owner_ok = link.context_value in (owner, subject[1] if len(subject) > 1 else None) \
        or link.seller_nip in (owner, subject[1] if len(subject) > 1 else None)

    def yes(flag):
        return "TAK / YES" if flag else "NIE / NO"
    rows += [("Podpis linku zweryfikowany certyfikatem", "Link signature verified with the "
              "certificate", yes(signature_ok)),
             ("Typ certyfikatu Offline", "Certificate type Offline", "%s (%s)"
              % (yes(is_offline), cert.get("type"))),
             ("Certyfikat ważny", "Certificate valid", "%s (%s — %s)" % (
                 yes(in_validity), _stamp(cert.get("validFrom")), _stamp(cert.get("validTo")))),
             ("Certyfikat nieunieważniony", "Certificate not revoked", yes(active)),
             ("Właściciel certyfikatu może wystawiać w tym kontekście",
              "The certificate's owner may issue in this context", yes(owner_ok)),
             ("Faktura o tym skrócie w KSeF", "Invoice with this hash in KSeF",
              invoice.get("ksefNumber") if invoice and invoice.get("ksefNumber")
              else "jeszcze nie / not yet")]
    if signature_ok and is_offline and in_validity and active and owner_ok:
        return _page("Weryfikacja wystawcy", True,
                     "Wystawca zweryfikowany: link podpisano ważnym certyfikatem KSeF typu Offline.",
                     "Issuer verified: the link was signed with a valid KSeF Offline certificate.",
                     rows)
    return _page("Weryfikacja wystawcy", False,
                 "Nie udało się zweryfikować wystawcy faktury.",
                 "The issuer of the invoice could not be verified.", rows)


def serve_verification(emu, req):
    if req.method != "GET":
        response = _page("Weryfikacja", False, "Dozwolone: GET.", "Allowed: GET.", [], 405)
        response.headers["Allow"] = "GET"
        return response
    if req.path.startswith("/invoice/"):
        return serve_invoice(emu, req)
    return serve_certificate(emu, req)
