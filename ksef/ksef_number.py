"""KSeF invoice numbers: NNNNNNNNNN-YYYYMMDD-XXXXXXXXXXXX-CC with a CRC-8 check."""
import re

_RE = re.compile(r"^(\d{10})-(\d{8})-([0-9A-F]{12})-([0-9A-F]{2})$")


def crc8(data: bytes) -> int:
    """CRC-8, polynomial 0x07, initial value 0x00, no reflection, no final xor."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def checksum(first32: str) -> str:
    return "%02X" % crc8(first32.encode("ascii"))


def make_ksef_number(seller_nip, day, technical_hex):
    """Build a KSeF number; ``day`` is a date, ``technical_hex`` 12 hex chars."""
    base = "%s-%s-%s" % (seller_nip, day.strftime("%Y%m%d"), technical_hex.upper())
    if len(base) != 32:
        raise ValueError("malformed KSeF number parts: %r" % base)
    return base + "-" + checksum(base)


def is_valid_ksef_number(value):
    match = _RE.match(value or "")
    return bool(match) and checksum(value[:32]) == match.group(4)
