"""Polish NIP (tax identification number) helpers."""
import re

from .errors import InvalidNIPError
from .i18n import _

_WEIGHTS = (6, 5, 7, 2, 3, 4, 5, 6, 7)


def normalize_nip(value):
    """Strip a PL prefix, spaces and dashes: ' PL 123-456-32-18 ' -> '1234563218'."""
    text = re.sub(r"[\s\-]", "", str(value or "")).upper()
    if text.startswith("PL"):
        text = text[2:]
    return text


def is_valid_nip(value):
    nip = normalize_nip(value)
    if not re.fullmatch(r"[1-9]\d{9}", nip):
        return False
    check = sum(int(d) * w for d, w in zip(nip, _WEIGHTS)) % 11
    return check != 10 and check == int(nip[9])


def check_nip(value, what="NIP"):
    """Return the normalized NIP or raise InvalidNIPError with a readable message."""
    nip = normalize_nip(value)
    if not nip:
        raise InvalidNIPError(_(
            "%(what)s is missing. Enter the company's 10-digit Polish NIP (Tax ID)."),
            params={"what": what})
    if not is_valid_nip(nip):
        raise InvalidNIPError(_(
            "%(what)s %(value)s is not a valid Polish NIP (10 digits with a correct checksum). "
            "Correct the Tax ID and try again."), params={"what": what, "value": repr(value)},
            nip=nip)
    return nip


def make_nip(prefix9):
    """Complete nine digits into a valid NIP (for tests); None when impossible."""
    digits = str(prefix9)
    if not re.fullmatch(r"[1-9]\d{8}", digits):
        raise ValueError("need nine digits, the first not 0")
    check = sum(int(d) * w for d, w in zip(digits, _WEIGHTS)) % 11
    return None if check == 10 else digits + str(check)
