"""Cryptographic primitives of KSeF 2.0 (cryptography library only).

- SHA-256 in standard Base64 (JSON fields) and Base64URL without padding (QR links)
- AES-256-CBC with PKCS#7 padding (invoices, batch parts, exports); no IV prefix
- RSAES-OAEP with SHA-256 and MGF1-SHA-256, empty label (token and AES-key wrapping)
"""
import base64
import hashlib
import os

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

try:  # cryptography < 3.1 needs an explicit backend; 3.4.8 accepts one
    from cryptography.hazmat.backends import default_backend
    _BACKEND = default_backend()
except ImportError:  # pragma: no cover
    _BACKEND = None

AES_KEY_SIZE = 32
AES_IV_SIZE = 16


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text) -> bytes:
    if isinstance(text, str):
        text = text.encode("ascii")
    return base64.b64decode(text, validate=True)


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def sha256_b64(data: bytes) -> str:
    """SHA-256 in standard Base64 (44 chars): invoiceHash, fileHash, SkrotDokumentu."""
    return b64encode(hashlib.sha256(data).digest())


def sha256_b64url(data: bytes) -> str:
    """SHA-256 in Base64URL without padding (43 chars): QR links."""
    return b64url_encode(hashlib.sha256(data).digest())


def new_aes_key() -> bytes:
    return os.urandom(AES_KEY_SIZE)


def new_iv() -> bytes:
    return os.urandom(AES_IV_SIZE)


def aes_encrypt(data: bytes, key: bytes, iv: bytes) -> bytes:
    """AES-256-CBC, PKCS#7 padding, ciphertext without IV prefix."""
    padder = padding.PKCS7(128).padder()
    padded = padder.update(data) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv), _BACKEND).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def aes_decrypt(data: bytes, key: bytes, iv: bytes) -> bytes:
    """Inverse of aes_encrypt; raises ValueError on a bad padding/length."""
    if len(data) % 16:
        raise ValueError("ciphertext length is not a multiple of the AES block size")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv), _BACKEND).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def _oaep():
    return asym_padding.OAEP(mgf=asym_padding.MGF1(algorithm=hashes.SHA256()),
                             algorithm=hashes.SHA256(), label=None)


def rsa_oaep_encrypt(public_key, data: bytes) -> bytes:
    """RSAES-OAEP, SHA-256, MGF1-SHA-256, empty label."""
    return public_key.encrypt(data, _oaep())


def rsa_oaep_decrypt(private_key, data: bytes) -> bytes:
    return private_key.decrypt(data, _oaep())


def backend():
    """The backend object to pass to cryptography calls that still want one."""
    return _BACKEND
