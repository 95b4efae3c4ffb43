"""Unpacking ZIP archives that come from outside, within limits sized to KSeF's own.

Used for the invoice packages of exports (``ksef.sync.read_package``) and for the batch ZIPs
reaching the emulator. Nothing is inflated before the central directory has been checked, and
every file is then read with a bounded reader that never goes past the size its header declares
(a header that lies is refused, not trusted):

* entries: at most ``MAX_ENTRIES`` = 10,000 invoices (KSeF's cap per export package and per
  batch session) + ``_metadata.json``;
* one entry: at most ``MAX_INVOICE_BYTES`` = 3,000,000 bytes, KSeF's maximum size of one invoice
  (1,000,000 bytes without attachments, 3,000,000 with); ``_metadata.json`` at most
  ``MAX_METADATA_BYTES`` (64 MiB, about 6 KB for each of 10,000 invoices' metadata);
* total: at most ``MAX_TOTAL`` = 10,000 x 3,000,000 + 64 MiB, checked on the declared sizes
  before anything is read and on the bytes actually read;
* compression ratio: an entry over ``RATIO_MIN_BYTES`` that inflates more than ``MAX_RATIO``
  (500) times its compressed size is a zip bomb (FA(3) invoices compress 2-60 times, a
  pathological attachment table about 400 times; deflate's ceiling is about 1,032), and so is
  an archive whose declared total exceeds ``MAX_RATIO`` times its own size.

    entries = read_zip(data, what=_("KSeF invoice package"))  # [(file name, bytes or None)]

Raises ``errors.ArchiveTooLarge`` or ``errors.ArchiveInvalid`` (both ``KSeFPackageError``);
``oversize="skip"`` returns ``(name, None)`` for an entry above its own limit (with a plausible
compression ratio) instead of refusing the archive, never inflating it: the sync makes it a
refused document, the emulator rejects that invoice alone.
"""
import io
import zipfile

from . import errors
from .i18n import _

MAX_INVOICES = 10000
MAX_ENTRIES = MAX_INVOICES + 1
MAX_INVOICE_BYTES = 3000000
MAX_METADATA_BYTES = 64 * 1024 * 1024
METADATA_NAME = "_metadata.json"
MAX_TOTAL = MAX_INVOICES * MAX_INVOICE_BYTES + MAX_METADATA_BYTES
MAX_RATIO = 500
RATIO_MIN_BYTES = 100000

ARCHIVE = _("archive")
_AGAIN = _("Nothing was imported; the next run downloads it again. If this happens again, report "
           "it to the KSeF support of the Ministry of Finance.")


def entry_limit(name):
    """The size limit of one entry: the metadata file's or an invoice's."""
    return MAX_METADATA_BYTES if name.rsplit("/", 1)[-1] == METADATA_NAME else MAX_INVOICE_BYTES


def _too_large(template, what, reason, limit, **params):
    raise errors.ArchiveTooLarge(template, params=dict(params, what=what, limit=limit, again=_AGAIN),
                                 reason=reason, limit=limit)


def _invalid(template, what, reason, **params):
    raise errors.ArchiveInvalid(template, params=dict(params, what=what, again=_AGAIN),
                                reason=reason, limit=None)


def read_zip(data, what=ARCHIVE, *, max_entries=MAX_ENTRIES, limit_of=entry_limit,
             max_total=MAX_TOTAL, max_ratio=MAX_RATIO, oversize="refuse"):
    """Unpack ``data`` (ZIP bytes) -> ``[(file name, bytes or None)]``; see the module docstring."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = [i for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        _invalid(_("The %(what)s is not a readable ZIP archive (%(error)s). %(again)s"), what,
                 "broken", error=str(exc))
    if len(infos) > max_entries:
        _too_large(_("The %(what)s holds %(count)s files; at most %(limit)s are allowed (10,000 "
                     "invoices and the metadata file). It was refused. %(again)s"), what,
                   "entries", max_entries, count=len(infos))
    declared_total = 0
    names = set()
    for info in infos:
        if info.filename in names:
            _invalid(_("The %(what)s holds the file %(name)s twice; it was refused. %(again)s"),
                     what, "duplicate", name=info.filename)
        names.add(info.filename)
        if info.flag_bits & 0x1:
            _invalid(_("The file %(name)s in the %(what)s is encrypted with a password; it was "
                       "refused. %(again)s"), what, "encrypted", name=info.filename)
        limit = limit_of(info.filename)
        if info.file_size > limit and oversize != "skip":
            _too_large(_("The file %(name)s in the %(what)s would unpack to %(size)s bytes; one "
                         "invoice may have at most %(limit)s bytes. It was refused. %(again)s"),
                       what, "entry", limit, name=info.filename, size=info.file_size)
        # an entry above its own limit with oversize="skip" is never inflated: its ratio does
        # not matter, and one such document must not block the rest of the package
        if info.file_size > RATIO_MIN_BYTES and not (oversize == "skip" and info.file_size > limit) \
                and info.file_size > max_ratio * max(info.compress_size, 1):
            _too_large(_("The file %(name)s in the %(what)s would unpack to %(size)s bytes from "
                         "%(compressed)s (more than %(limit)s times; possible zip bomb). It was "
                         "refused. %(again)s"), what, "ratio", max_ratio, name=info.filename,
                       size=info.file_size, compressed=info.compress_size)
        if info.file_size <= limit:
            declared_total += info.file_size
    if declared_total > max_total:
        _too_large(_("The %(what)s would unpack to %(size)s bytes; at most %(limit)s are allowed. "
                     "It was refused. %(again)s"), what, "total", max_total, size=declared_total)
    if declared_total > RATIO_MIN_BYTES and declared_total > max_ratio * max(len(data), 1):
        _too_large(_("The %(what)s would unpack to %(size)s bytes from %(compressed)s (more than "
                     "%(limit)s times; possible zip bomb). It was refused. %(again)s"), what,
                   "ratio", max_ratio, size=declared_total, compressed=len(data))
    entries = []
    for info in infos:
        if info.file_size > limit_of(info.filename):
            entries.append((info.filename, None))          # oversize="skip": never inflated
            continue
        try:
            with archive.open(info) as handle:
                # zipfile stops at the declared size and then checks the CRC: never more
                content = handle.read(info.file_size + 1)
                extra = handle.read(1)
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError,
                RuntimeError) as exc:
            _invalid(_("The file %(name)s in the %(what)s cannot be unpacked (%(error)s). "
                       "%(again)s"), what, "broken", name=info.filename, error=str(exc))
        if len(content) != info.file_size or extra:
            _invalid(_("The file %(name)s in the %(what)s does not match its header (declared "
                       "%(declared)s bytes, read %(size)s); it was refused. %(again)s"), what,
                     "size", name=info.filename, declared=info.file_size,
                     size=len(content) + len(extra))
        entries.append((info.filename, content))
    return entries


__all__ = ["read_zip", "entry_limit", "MAX_ENTRIES", "MAX_INVOICES", "MAX_INVOICE_BYTES",
           "MAX_METADATA_BYTES", "MAX_TOTAL", "MAX_RATIO"]
