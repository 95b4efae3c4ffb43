"""Typed exceptions of the KSeF core.

Every exception carries a ``message`` written for the person who has to act
on it (an accountant or an administrator): what happened and what to do.
The Odoo layer turns them into UserErrors, chatter messages and statuses.
The core never raises anything Odoo-specific.

Translation: a message may be given as a template marked with
``ksef.i18n._`` plus ``params`` (a dict for its ``%(name)s`` placeholders).
``message`` is then the formatted English text (as before), ``template`` the
untranslated msgid and ``params`` the values, so the Odoo layer can show the
message in the user's language. A plain message string still works: its
``template`` is the message itself and ``params`` is empty.
"""

import re

from .i18n import Text, _

#: a KSeF number inside a text (KSeF 2.0, 35 characters)
_KSEF_NUMBER_RE = re.compile(r"\b\d{10}-\d{8}-[0-9A-F]{12}-[0-9A-F]{2}\b")


def format_message(template, params):
    """``template % params`` (``params`` a dict); the bare template if that fails."""
    if not params:
        return template
    try:
        return template % params
    except (KeyError, ValueError, TypeError):
        return template


class KSeFError(Exception):
    """Base class of every error raised by the KSeF core."""

    default_message = _("KSeF operation failed.")

    def __init__(self, message=None, params=None, **kwargs):
        self.template = message or self.default_message
        self.params = dict(params or {})
        self.message = format_message(self.template, self.params)
        for key, value in kwargs.items():
            setattr(self, key, value)
        super().__init__(self.message)

    def __str__(self):
        return self.message


# --- problems with local input (nothing was sent) ---------------------------

class KSeFConfigError(KSeFError):
    """Local configuration or input is wrong; nothing was sent to KSeF."""


class InvalidNIPError(KSeFConfigError):
    """A NIP (Polish tax id) is malformed or its checksum is wrong."""


class CertificateError(KSeFConfigError):
    """A certificate or private key cannot be used."""


class KeyPasswordError(CertificateError):
    """The private key's password is wrong (or the key is not a key)."""


class CertificateExpiredError(CertificateError):
    """The certificate is expired or not yet valid."""


class CertificateTypeError(CertificateError):
    """The certificate is of the wrong KSeF type (Authentication vs Offline)."""


class CertificateKeyMismatchError(CertificateError):
    """The private key does not belong to the certificate."""


class InvalidCollectiveIdentifierError(KSeFConfigError):
    """A collective identifier (identyfikator zbiorczy) is malformed or its CRC-8 checksum is
    wrong; nothing was sent. ``value`` is what was given, ``reason`` one of "empty", "length",
    "format", "checksum"."""


class CollectiveIdentifierRequestError(KSeFConfigError):
    """A collective identifier request cannot be sent as it is (too few or too many invoices, a
    description over 512 characters, a malformed KSeF number or payment, a date range over 100
    days, a bad page size...); nothing was sent. ``reason`` names the check that failed."""


class XMLSecurityError(KSeFError):
    """Incoming XML was refused as hostile or oversized (DTD, entities, size)."""


class InvoiceValidationError(KSeFError):
    """An invoice is not valid FA(3); ``problems`` lists readable reasons."""

    def __init__(self, message=None, problems=None, params=None, **kwargs):
        problems = list(problems or [])
        if message is None:
            message = _("The invoice is not valid for KSeF:\n%(problems)s")
            params = {"problems": "\n".join("- %s" % p for p in problems)}
        super().__init__(message, problems=problems, params=params, **kwargs)


class IncomingInvoiceInvalid(InvoiceValidationError):
    """An invoice received from KSeF (or from a file) does not match the FA(3) schema, so it was
    not turned into a bill; ``problems`` lists every readable reason (``ksef.fa3.Problem``)."""

    #: at most this many reasons are written into the message (``problems`` keeps them all)
    MAX_LISTED = 20

    def __init__(self, message=None, problems=None, params=None, **kwargs):
        problems = list(problems or [])
        if message is None:
            listed = problems[:self.MAX_LISTED]
            lines = "\n".join("- %%(p%d)s" % i for i in range(len(listed)))
            items = {"p%d" % i: problem for i, problem in enumerate(listed)}
            if len(problems) > len(listed):
                lines += "\n%(more)s"
                items["more"] = Text(_("... and %(count)s more"),
                                     {"count": len(problems) - len(listed)})
            message = _("The invoice does not match the FA(3) schema, so it was not turned into a "
                        "bill:\n%(problems)s\nCheck the invoice in the KSeF application and ask the "
                        "seller for a correction, or enter the bill by hand.")
            params = {"problems": Text(lines, items)}
        super().__init__(message, problems=problems, params=params, **kwargs)


class InvoiceTooLargeError(InvoiceValidationError):
    """The invoice file is over the KSeF size limit."""


class SchemaUnavailableError(KSeFError):
    """The official XSD files could be neither loaded nor downloaded."""


class XAdESError(KSeFError):
    """An XAdES signature could not be created or does not verify."""


# --- problems talking to KSeF -------------------------------------------------

class KSeFTransportError(KSeFError):
    """The network failed: KSeF could not be reached. Nothing was received."""

    default_message = _("KSeF could not be reached (network failure). Check the "
                       "internet connection and try again later; nothing was lost.")


class KSeFTimeoutError(KSeFTransportError):
    """No answer in time. For a non-idempotent request the outcome is unknown."""

    default_message = _("KSeF did not answer in time. The operation may or may not "
                       "have been carried out; it will be checked before any retry.")


class KSeFAPIError(KSeFError):
    """KSeF answered with an error.

    Attributes: ``http_status``, ``exception_code`` (first KSeF exception
    code or None), ``description``, ``details`` (list of str), ``errors``
    (all ``(code, description, details)`` tuples), ``reference_number``,
    ``retry_after`` (seconds or None), ``body`` (raw parsed body).
    """

    def __init__(self, message=None, http_status=None, exception_code=None,
                 description=None, details=None, errors=None,
                 reference_number=None, retry_after=None, body=None, params=None, **kwargs):
        if not message and not description:
            message = _("KSeF returned an error (HTTP %(status)s).")
            params = {"status": http_status}
        super().__init__(
            message or description, params=params,
            http_status=http_status, exception_code=exception_code,
            description=description, details=list(details or []),
            errors=list(errors or []), reference_number=reference_number,
            retry_after=retry_after, body=body, **kwargs)


class KSeFBadRequest(KSeFAPIError):
    """HTTP 400: KSeF rejected the request's content."""


class CollectiveIdentifierRejected(KSeFBadRequest):
    """KSeF refused a collective identifier request with one of its 71xxx exception codes.

    ``ksef_numbers`` lists the KSeF numbers KSeF named in the error details (the invoices to
    look at). The subclasses below tell the cases apart. For 71004 and 71005 the client already
    detects the problem before sending (the KSeF number starts with the seller's NIP): the same
    class is raised then, with ``http_status`` None and ``local`` True.
    """

    def __init__(self, message=None, **kwargs):
        kwargs.setdefault("local", False)
        super().__init__(message, **kwargs)
        if not getattr(self, "ksef_numbers", None):
            found = []
            for _code, _desc, details in self.errors or []:
                for text in details or ():
                    for number in _KSEF_NUMBER_RE.findall(str(text)):
                        if number not in found:
                            found.append(number)
            self.ksef_numbers = found


class CollectiveInvoiceUnavailable(CollectiveIdentifierRejected):
    """71001: KSeF does not know the invoice, or it cannot be put in a collective identifier in
    this context (the company is neither its seller, buyer nor another party on it)."""


class CollectiveInvoiceLimitReached(CollectiveIdentifierRejected):
    """71002: the invoice already belongs to the maximum number of collective identifiers
    (132 per context)."""


class CollectiveInvoicesOfDifferentSellers(CollectiveIdentifierRejected):
    """71004: the invoices were issued by different sellers; one identifier covers one seller."""


class CollectiveDuplicateInvoice(CollectiveIdentifierRejected):
    """71005: the same KSeF number appears more than once in the request."""


class KSeFUnauthorized(KSeFAPIError):
    """HTTP 401: the access token is missing, expired or revoked."""


class KSeFForbidden(KSeFAPIError):
    """HTTP 403: no permission (``reason_code`` says which kind)."""


class KSeFNotFound(KSeFAPIError):
    """HTTP 404."""


class KSeFGone(KSeFAPIError):
    """HTTP 410: the status of the operation is no longer kept."""


class KSeFRateLimited(KSeFAPIError):
    """HTTP 429: too many requests; ``retry_after`` says when to come back."""


class KSeFServerError(KSeFAPIError):
    """HTTP 5xx: KSeF failed; the request may be retried later."""


class KSeFUnavailable(KSeFServerError):
    """KSeF reports it is unavailable (maintenance or failure)."""


# --- protocol outcomes --------------------------------------------------------

class KSeFAuthError(KSeFError):
    """Authentication ended with a failure status (``status_code``)."""


class KSeFAuthPending(KSeFError):
    """KSeF has not finished checking the login yet: nothing failed; ``pending``
    (``ksef.auth.PendingLogin``) resumes it with ``KSeFClient.resume_login``."""


class KSeFInvoiceRejected(KSeFError):
    """KSeF processed the invoice and rejected it (``status_code``, ``details``)."""


class KSeFDuplicateInvoice(KSeFInvoiceRejected):
    """KSeF already holds this invoice (``original_ksef_number``)."""


class KSeFPackageError(KSeFError):
    """A package downloaded from KSeF (invoice export) is damaged or unreadable; nothing was
    imported and no checkpoint was advanced."""

    default_message = _("The invoice package downloaded from KSeF is damaged or unreadable. Nothing "
                       "was imported; the next run downloads it again.")


class ArchiveRefused(KSeFPackageError):
    """A ZIP archive (an invoice package from KSeF) was refused before being unpacked (see
    ``ksef.archive``): nothing was imported and no checkpoint advanced. ``reason`` says which
    check failed; ``limit`` is the limit concerned (None for a broken archive)."""


class ArchiveTooLarge(ArchiveRefused):
    """The archive would unpack beyond a limit: too many files (``reason`` "entries"), a file
    larger than an invoice may be ("entry"), a total above the limit ("total") or an
    implausible compression ratio ("ratio", a zip bomb)."""


class ArchiveInvalid(ArchiveRefused):
    """The archive is broken or lies: unreadable ZIP ("broken"), a file whose header does not
    match its content ("size"), duplicate or encrypted files ("duplicate", "encrypted")."""


#: KSeF exception codes (HTTP 400) with a dedicated class; the transport picks the class from here
BAD_REQUEST_CLASSES = {
    71001: CollectiveInvoiceUnavailable,
    71002: CollectiveInvoiceLimitReached,
    71004: CollectiveInvoicesOfDifferentSellers,
    71005: CollectiveDuplicateInvoice,
}
