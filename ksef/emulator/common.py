"""Shared helpers of the emulator: API errors, time formatting, reference numbers."""
import datetime
import hashlib
import json
import os
import secrets

from ..ksef_number import crc8

try:
    from zoneinfo import ZoneInfo
    WARSAW = ZoneInfo("Europe/Warsaw")
except Exception:  # pragma: no cover - no tz database
    WARSAW = datetime.timezone.utc

UTC = datetime.timezone.utc


def token_hash(token):
    """How a bearer token is kept in the store (never the token itself)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()

# exception codes -> official descriptions (OpenAPI 400 tables)
DESCRIPTIONS = {
    9101: "Nieprawidłowy dokument.",
    9102: "Brak podpisu.",
    9103: "Przekroczona liczba dozwolonych podpisów.",
    9105: "Nieprawidłowy podpis.",
    21001: "Nieczytelna treść.",
    21111: "Nieprawidłowe wyzwanie autoryzacyjne.",
    21115: "Nieprawidłowy certyfikat.",
    21117: "Nieprawidłowy identyfikator podmiotu dla wskazanego typu kontekstu.",
    21155: "Przekroczono dozwoloną liczbę faktur w sesji.",
    21164: "Faktura o podanym identyfikatorze nie istnieje.",
    21165: "Faktura o podanym numerze KSeF nie jest jeszcze dostępna.",
    21166: "Korekta techniczna niedostępna.",
    21167: "Status faktury nie pozwala na korektę techniczną.",
    21173: "Brak sesji o wskazanym numerze referencyjnym.",
    21178: "Nie znaleziono UPO dla podanych kryteriów.",
    21180: "Status sesji nie pozwala na wykonanie operacji.",
    21183: "Zakres filtrowania wykracza poza dostępny zakres danych.",
    21217: "Nieprawidłowe kodowanie znaków.",
    21301: "Brak autoryzacji.",
    21304: "Brak uwierzytelnienia.",
    21401: "Dokument nie jest zgodny ze schemą (xsd).",
    21402: "Nieprawidłowy rozmiar pliku.",
    21403: "Nieprawidłowy skrót pliku.",
    21405: "Błąd walidacji danych wejściowych.",
    21406: "Konflikt podpisu i typu uwierzytelnienia.",
    21418: "Przekazany token kontynuacji ma nieprawidłowy format.",
    21470: "Przesłany identyfikator klucza jest nieznany lub wskazuje na wycofany klucz.",
    25001: "Brak możliwości pobrania danych do CSR dla wykorzystanego sposobu uwierzytelnienia.",
    25002: "Brak możliwości złożenia wniosku certyfikacyjnego dla wykorzystanego sposobu "
           "uwierzytelnienia.",
    25003: "Dane w CSR nie zgadzają się z danymi w użytym wektorze uwierzytelniającym.",
    25004: "Niepoprawny format CSR lub niepoprawny podpis CSR.",
    25005: "Wniosek certyfikacyjny o podanym numerze referencyjnym nie istnieje.",
    25006: "Osiągnięto limit możliwych do złożenia wniosków certyfikacyjnych.",
    25007: "Osiągnięto limit dopuszczalnej liczby posiadanych certyfikatów.",
    25008: "Certyfikat o podanym numerze seryjnym nie istnieje.",
    25009: "Nie można odwołać wskazanego certyfikatu, ponieważ jest już odwołany, zablokowany "
           "lub nieważny.",
    25010: "Nieprawidłowy typ lub długość klucza.",
    25011: "Nieprawidłowy algorytm podpisu CSR.",
    26001: "Nie można nadać tokenowi uprawnień których nie posiadasz.",
    26002: "Nie można wygenerować tokena dla obecnego typu kontekstu.",
    30001: "Podmiot lub uprawnienie już istnieje.",
    # collective identifiers: 71001/71002 verbatim from the official OpenAPI (API 2.7, its
    # spelling kept); 71004/71005 are not described there (only in SDKs generated from 2.9)
    71001: "Faktura nie może zostac przypisana do Identyfikatora Zbiorczego.",
    71002: "Faktura jest już przypisana do maksymalnej liczby Identyfikatorów Zbiorczych.",
    71004: "Faktury należą do różnych sprzedawców.",
    71005: "Zduplikowany numer KSeF w żądaniu.",
}


class ApiError(Exception):
    """An error answer. ``status`` 400 -> ExceptionResponse/problem; 401/403/404/410/503 -> problem."""

    def __init__(self, status, code=None, details=None, detail=None, reason_code=None,
                 description=None):
        self.status = status
        self.code = code
        self.details = list(details or [])
        self.description = description or DESCRIPTIONS.get(code, "")
        self.detail = detail or self.description
        self.reason_code = reason_code
        super().__init__("%s %s %s" % (status, code, self.detail))


def bad_request(code, *details):
    return ApiError(400, code, details=[d for d in details if d])


def now():
    return datetime.datetime.now(UTC)


def iso(moment):
    """ISO-8601 with offset and milliseconds (UTC): 2025-07-11T12:23:56.015+00:00."""
    if moment is None:
        return None
    if isinstance(moment, (int, float)):
        moment = datetime.datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def iso_warsaw(moment):
    if isinstance(moment, (int, float)):
        moment = datetime.datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(WARSAW).isoformat(timespec="milliseconds")


def warsaw_date(ts):
    return datetime.datetime.fromtimestamp(ts, UTC).astimezone(WARSAW).date()


def parse_iso(text):
    """Parse ISO-8601; no offset means Europe/Warsaw (as KSeF). Returns epoch seconds."""
    value = datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=WARSAW)
    return value.timestamp()


def make_reference(kind, moment=None):
    """36-char reference number ``YYYYMMDD-KK-XXXXXXXXXX-XXXXXXXXXX-CC``."""
    moment = moment or now()
    body = "%s-%s-%s-%s" % (moment.astimezone(WARSAW).strftime("%Y%m%d"), kind,
                            secrets.token_hex(5).upper(), secrets.token_hex(5).upper())
    return "%s-%02X" % (body, crc8(body.encode("ascii")))


def new_trace_id():
    return os.urandom(16).hex()


def json_bytes(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
