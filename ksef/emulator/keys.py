"""The emulator's own key pairs: the two "MF" encryption keys and the KSeF certificate CA."""
import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from ..crypto import b64decode, b64encode, backend, sha256_b64

USAGES = ("KsefTokenEncryption", "SymmetricKeyEncryption")


def _new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048, backend=backend())


def _pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")


def _self_signed(key, common_name, org_unit, days, ca=False):
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ministerstwo Finansów"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, org_unit),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])
    start = datetime.datetime.utcnow() - datetime.timedelta(days=1)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    return builder.sign(key, hashes.SHA256(), backend())


class KeyRing:
    """Keys kept in the store's ``meta`` table (PEM), created on first start."""

    def __init__(self, store):
        self.store = store
        meta = store.get("meta", "keys")
        if not meta:
            meta = {}
            for usage in USAGES:
                key = _new_key()
                cert = _self_signed(key, "KSeF emulator %s" % usage, "KSeF emulator", 730)
                meta[usage] = {"key": _pem(key), "cert": b64encode(
                    cert.public_bytes(serialization.Encoding.DER))}
            ca_key = _new_key()
            ca = _self_signed(ca_key, "KSeF emulator CA", "KSeF emulator CA", 3650, ca=True)
            meta["CA"] = {"key": _pem(ca_key), "cert": b64encode(
                ca.public_bytes(serialization.Encoding.DER))}
            store.put("meta", "keys", meta)
        self._keys = {}
        self._certs = {}
        for name, item in meta.items():
            self._keys[name] = serialization.load_pem_private_key(
                item["key"].encode("ascii"), password=None, backend=backend())
            self._certs[name] = x509.load_der_x509_certificate(
                b64decode(item["cert"]), backend())

    def private_key(self, name):
        return self._keys[name]

    def certificate(self, name):
        return self._certs[name]

    def public_key_id(self, name):
        spki = self._certs[name].public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return sha256_b64(spki)

    def public_key_certificates(self):
        """Body of GET /security/public-key-certificates."""
        items = []
        for usage in USAGES:
            cert = self._certs[usage]
            der = cert.public_bytes(serialization.Encoding.DER)
            items.append({
                "certificate": b64encode(der),
                "certificateId": sha256_b64(der),
                "publicKeyId": self.public_key_id(usage),
                "validFrom": cert.not_valid_before.replace(
                    tzinfo=datetime.timezone.utc).isoformat(timespec="milliseconds"),
                "validTo": cert.not_valid_after.replace(
                    tzinfo=datetime.timezone.utc).isoformat(timespec="milliseconds"),
                "usage": [usage],
            })
        return items
