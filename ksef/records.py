"""Data records returned by the KSeF client (ksef.client) and the date-time helpers of the core.

They hold what KSeF answered, with Python types (aware UTC datetimes), and
small helpers (``is_final``, ``raise_for_rejection``...). ``to_dict`` /
``from_dict`` give JSON-safe dicts the Odoo layer can store.
"""
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from .errors import KSeFDuplicateInvoice, KSeFInvoiceRejected
from .i18n import Text, _

_ISO_RE = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?$")


def parse_datetime(value):
    """Parse an ISO-8601 date-time from KSeF into an aware UTC datetime.

    KSeF sends up to 7 fractional digits and 'Z' or '+00:00'; values without
    an offset are taken as UTC. None/'' give None.
    """
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    match = _ISO_RE.match(str(value).strip())
    if not match:
        raise ValueError("not an ISO-8601 date-time: %r" % (value,))
    date_part, time_part, fraction, offset = match.groups()
    if time_part.count(":") == 1:
        time_part += ":00"
    text = "%sT%s" % (date_part, time_part)
    if fraction:
        text += "." + (fraction + "000000")[:6]
    if not offset or offset == "Z":
        offset = "+00:00"
    elif ":" not in offset:
        offset = offset[:3] + ":" + offset[3:]
    return datetime.fromisoformat(text + offset).astimezone(timezone.utc)


def format_datetime(value):
    """Aware datetime -> ISO-8601 string (UTC, milliseconds, 'Z'); None -> None."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (value.microsecond // 1000)


def utcnow():
    return datetime.now(timezone.utc)


def to_iso(value):
    """An aware datetime (or naive UTC) -> ISO 8601 text with offset, microseconds kept
    (None -> False, as Odoo stores an empty value)."""
    if value is None:
        return False
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat()


def from_iso(text):
    """ISO 8601 text -> aware datetime (no offset: UTC); empty -> None."""
    if not text:
        return None
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


def naive_utc(value):
    """A datetime -> naive UTC without microseconds, as Odoo stores it (empty -> False)."""
    if not value:
        return False
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.replace(microsecond=0)


def parse_naive_utc(value):
    """KSeF metadata date-time text -> naive UTC datetime without microseconds, as Odoo stores
    it; False when missing or unreadable."""
    if not value:
        return False
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return False
    return naive_utc(parsed)


# --- authentication -------------------------------------------------------------

@dataclass
class AuthTokens:
    """The JWTs of one KSeF authentication (secrets: never log them)."""

    access_token: str
    access_valid_until: datetime
    refresh_token: str
    refresh_valid_until: datetime
    reference_number: str = ""
    context_nip: str = ""

    def access_expires_within(self, seconds):
        return self.access_valid_until - utcnow() < timedelta(seconds=seconds)

    def refresh_expires_within(self, seconds):
        return self.refresh_valid_until - utcnow() < timedelta(seconds=seconds)

    def to_dict(self):
        return {
            "access_token": self.access_token,
            "access_valid_until": format_datetime(self.access_valid_until),
            "refresh_token": self.refresh_token,
            "refresh_valid_until": format_datetime(self.refresh_valid_until),
            "reference_number": self.reference_number,
            "context_nip": self.context_nip,
        }

    @classmethod
    def from_dict(cls, data):
        return cls(
            access_token=data["access_token"],
            access_valid_until=parse_datetime(data["access_valid_until"]),
            refresh_token=data["refresh_token"],
            refresh_valid_until=parse_datetime(data["refresh_valid_until"]),
            reference_number=data.get("reference_number") or "",
            context_nip=data.get("context_nip") or "",
        )

    def __repr__(self):  # never show the secrets
        return "AuthTokens(reference_number=%r, access_valid_until=%s, refresh_valid_until=%s)" % (
            self.reference_number, self.access_valid_until, self.refresh_valid_until)


@dataclass
class AuthStatus:
    """GET /auth/{referenceNumber}."""

    code: int
    description: str = ""
    details: list = field(default_factory=list)
    method_category: str = ""
    method_code: str = ""
    start_date: datetime = None
    is_token_redeemed: bool = None
    refresh_token_valid_until: datetime = None

    @classmethod
    def from_json(cls, data):
        status = data.get("status") or {}
        info = data.get("authenticationMethodInfo") or {}
        return cls(code=int(status.get("code") or 0), description=status.get("description") or "",
                   details=list(status.get("details") or []),
                   method_category=info.get("category") or "", method_code=info.get("code") or "",
                   start_date=parse_datetime(data.get("startDate")),
                   is_token_redeemed=data.get("isTokenRedeemed"),
                   refresh_token_valid_until=parse_datetime(data.get("refreshTokenValidUntil")))


@dataclass
class PublicKeyCertificate:
    """One of the ministry's public-key certificates (GET /security/public-key-certificates)."""

    certificate_der: bytes
    certificate_id: str
    public_key_id: str
    valid_from: datetime
    valid_to: datetime
    usage: tuple
    public_key: object = None   # cryptography RSA public key

    def is_valid_at(self, moment):
        return self.valid_from <= moment < self.valid_to


# --- invoices and sessions --------------------------------------------------------

#: invoice status codes that are not final yet
INVOICE_PENDING_CODES = (100, 150)

_REJECTION_HINTS = {
    405: _("The invoice was cancelled because of an error in its session. Send it again in a new session."),
    410: _("The KSeF user has no right to issue invoices for this seller (wrong permission scope). "
         "Grant the InvoiceWrite permission in KSeF, or check the seller NIP, then send it again."),
    415: _("Invoices with attachments are not enabled for this company in KSeF. Remove the attachment "
         "or enable attachments in KSeF, then send it again."),
    430: _("KSeF found the invoice file invalid (schema/format check). Correct the invoice and "
         "send it again."),
    435: _("KSeF could not decrypt the invoice. Send it again (a new session will be used)."),
    450: _("KSeF found a semantic error in the invoice. Correct the invoice and send it again."),
    500: _("KSeF failed with an unknown error. Send the invoice again later."),
    550: _("KSeF cancelled the processing. Send the invoice again."),
}


@dataclass
class InvoiceStatus:
    """Status of one invoice sent in a session (GET /sessions/{ref}/invoices/{invRef})."""

    code: int
    description: str = ""
    details: list = field(default_factory=list)
    ksef_number: str = None
    invoice_number: str = None
    invoice_hash: str = None
    reference_number: str = None
    acquisition_date: datetime = None
    invoicing_date: datetime = None
    permanent_storage_date: datetime = None
    invoicing_mode: str = None
    upo_download_url: str = None
    upo_download_url_expiration_date: datetime = None
    ordinal_number: int = None
    invoice_file_name: str = None
    extensions: dict = field(default_factory=dict)
    session_reference_number: str = None

    @classmethod
    def from_json(cls, data, session_reference_number=None):
        status = data.get("status") or {}
        return cls(
            code=int(status.get("code") or 0),
            description=status.get("description") or "",
            details=list(status.get("details") or []),
            extensions=dict(status.get("extensions") or {}),
            ksef_number=data.get("ksefNumber"),
            invoice_number=data.get("invoiceNumber"),
            invoice_hash=data.get("invoiceHash"),
            reference_number=data.get("referenceNumber"),
            acquisition_date=parse_datetime(data.get("acquisitionDate")),
            invoicing_date=parse_datetime(data.get("invoicingDate")),
            permanent_storage_date=parse_datetime(data.get("permanentStorageDate")),
            invoicing_mode=data.get("invoicingMode"),
            upo_download_url=data.get("upoDownloadUrl"),
            upo_download_url_expiration_date=parse_datetime(data.get("upoDownloadUrlExpirationDate")),
            ordinal_number=data.get("ordinalNumber"),
            invoice_file_name=data.get("invoiceFileName"),
            session_reference_number=session_reference_number,
        )

    @property
    def is_final(self):
        return self.code not in INVOICE_PENDING_CODES

    @property
    def is_success(self):
        return self.code == 200

    @property
    def is_duplicate(self):
        return self.code == 440

    @property
    def original_ksef_number(self):
        """For a 440 duplicate: the KSeF number of the invoice KSeF already holds."""
        return self.extensions.get("originalKsefNumber")

    @property
    def original_session_reference_number(self):
        return self.extensions.get("originalSessionReferenceNumber")

    @property
    def held_ksef_number(self):
        """The KSeF number under which KSeF holds this invoice (accepted or duplicate), or None."""
        if self.is_success:
            return self.ksef_number
        if self.is_duplicate:
            return self.original_ksef_number or self.ksef_number
        return None

    def rejection_error(self):
        """The exception describing a final failure, or None (pending or success)."""
        if not self.is_final or self.is_success:
            return None
        details = "; ".join(self.details)
        params = {"number": " %s" % self.invoice_number if self.invoice_number else "",
                  "code": self.code, "description": self.description or _("no description"),
                  "details": " - %s" % details if details else ""}
        common = dict(status_code=self.code, description=self.description, details=list(self.details),
                      reference_number=self.reference_number,
                      session_reference_number=self.session_reference_number)
        if self.is_duplicate:
            params["original"] = self.original_ksef_number or "?"
            return KSeFDuplicateInvoice(_(
                "KSeF rejected the invoice%(number)s (status %(code)s: %(description)s%(details)s). "
                "KSeF already holds this invoice under KSeF number %(original)s: do not send it "
                "again; link the invoice to that KSeF number."), params=params,
                original_ksef_number=self.original_ksef_number,
                original_session_reference_number=self.original_session_reference_number, **common)
        params["hint"] = Text(_REJECTION_HINTS.get(
            self.code, _("Check the details, correct the invoice and send it again.")))
        return KSeFInvoiceRejected(_(
            "KSeF rejected the invoice%(number)s (status %(code)s: %(description)s%(details)s). "
            "%(hint)s"), params=params, **common)

    def raise_for_rejection(self):
        """Raise KSeFDuplicateInvoice (440) / KSeFInvoiceRejected (other final failures)."""
        error = self.rejection_error()
        if error is not None:
            raise error
        return self

    def to_dict(self):
        result = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            result[name] = format_datetime(value) if isinstance(value, datetime) else value
        return result


@dataclass
class SentInvoice:
    """What POST /sessions/online/{ref}/invoices accepted (not yet the KSeF number)."""

    reference_number: str
    session_reference_number: str
    invoice_hash: str
    invoice_size: int
    encrypted_invoice_hash: str
    encrypted_invoice_size: int


@dataclass
class UpoPage:
    reference_number: str
    download_url: str
    download_url_expiration_date: datetime = None


@dataclass
class SessionStatus:
    """GET /sessions/{referenceNumber}."""

    code: int
    description: str = ""
    details: list = field(default_factory=list)
    date_created: datetime = None
    date_updated: datetime = None
    valid_until: datetime = None
    invoice_count: int = None
    successful_invoice_count: int = None
    failed_invoice_count: int = None
    upo_pages: list = field(default_factory=list)
    reference_number: str = None

    @classmethod
    def from_json(cls, data, reference_number=None):
        status = data.get("status") or {}
        pages = [UpoPage(p.get("referenceNumber"), p.get("downloadUrl"),
                         parse_datetime(p.get("downloadUrlExpirationDate")))
                 for p in ((data.get("upo") or {}).get("pages") or [])]
        return cls(code=int(status.get("code") or 0), description=status.get("description") or "",
                   details=list(status.get("details") or []),
                   date_created=parse_datetime(data.get("dateCreated")),
                   date_updated=parse_datetime(data.get("dateUpdated")),
                   valid_until=parse_datetime(data.get("validUntil")),
                   invoice_count=data.get("invoiceCount"),
                   successful_invoice_count=data.get("successfulInvoiceCount"),
                   failed_invoice_count=data.get("failedInvoiceCount"),
                   upo_pages=pages, reference_number=reference_number)

    @property
    def is_open(self):
        return self.code == 100

    @property
    def is_processed(self):
        return self.code == 200

    @property
    def is_final(self):
        return self.code not in (100, 150, 170)


# --- KSeF tokens and certificates ---------------------------------------------------

@dataclass
class KSeFTokenInfo:
    """GET /tokens/{referenceNumber} or an item of GET /tokens (no secret inside)."""

    reference_number: str
    status: str
    description: str = ""
    permissions: tuple = ()
    date_created: datetime = None
    last_use_date: datetime = None
    author_identifier: dict = field(default_factory=dict)
    context_identifier: dict = field(default_factory=dict)
    status_details: list = field(default_factory=list)

    @classmethod
    def from_json(cls, data):
        return cls(reference_number=data.get("referenceNumber"), status=data.get("status"),
                   description=data.get("description") or "",
                   permissions=tuple(data.get("requestedPermissions") or ()),
                   date_created=parse_datetime(data.get("dateCreated")),
                   last_use_date=parse_datetime(data.get("lastUseDate")),
                   author_identifier=dict(data.get("authorIdentifier") or {}),
                   context_identifier=dict(data.get("contextIdentifier") or {}),
                   status_details=list(data.get("statusDetails") or []))

    @property
    def is_active(self):
        return self.status == "Active"


@dataclass
class EnrollmentStatus:
    """GET /certificates/enrollments/{referenceNumber}."""

    code: int
    description: str = ""
    details: list = field(default_factory=list)
    request_date: datetime = None
    certificate_serial_number: str = None

    @classmethod
    def from_json(cls, data):
        status = data.get("status") or {}
        return cls(code=int(status.get("code") or 0), description=status.get("description") or "",
                   details=list(status.get("details") or []),
                   request_date=parse_datetime(data.get("requestDate")),
                   certificate_serial_number=data.get("certificateSerialNumber"))

    @property
    def is_final(self):
        return self.code != 100

    @property
    def is_success(self):
        return self.code == 200


@dataclass
class KSeFCertificate:
    """A certificate returned by POST /certificates/retrieve."""

    serial_number: str
    name: str
    certificate_type: str
    certificate_der: bytes


@dataclass
class CertificateInfo:
    """An item of POST /certificates/query."""

    serial_number: str
    name: str
    certificate_type: str
    common_name: str
    status: str
    valid_from: datetime
    valid_to: datetime
    request_date: datetime = None
    last_use_date: datetime = None
    subject_identifier: dict = field(default_factory=dict)

    @classmethod
    def from_json(cls, data):
        return cls(serial_number=data.get("certificateSerialNumber"), name=data.get("name"),
                   certificate_type=data.get("type"), common_name=data.get("commonName"),
                   status=data.get("status"), valid_from=parse_datetime(data.get("validFrom")),
                   valid_to=parse_datetime(data.get("validTo")),
                   request_date=parse_datetime(data.get("requestDate")),
                   last_use_date=parse_datetime(data.get("lastUseDate")),
                   subject_identifier=dict(data.get("subjectIdentifier") or {}))
