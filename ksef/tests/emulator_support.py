"""Helpers for the emulator tests: raw HTTP flows done by hand with requests + cryptography."""
import datetime
import glob
import os
import re
import time
import uuid

import requests
from cryptography import x509

from ksef.crypto import (
    aes_encrypt,
    b64decode,
    b64encode,
    backend,
    new_aes_key,
    new_iv,
    rsa_oaep_encrypt,
    sha256_b64,
)

from .conftest import SHARED

SAMPLES = os.path.join(SHARED, "samples", "fa3")
SAMPLE_NIP = "9999999999"
PROBLEM = {"X-Error-Format": "problem-details"}


def sample_invoice(number=1):
    for path in glob.glob(os.path.join(SAMPLES, "*_%d.xml" % number)):
        with open(path, "rb") as handle:
            return handle.read()
    raise FileNotFoundError(number)


def fresh_invoice(number=1, p1=None, p2=None):
    """A sample invoice with P_1 = today (Warsaw) and a unique P_2 (so it is no duplicate)."""
    from ksef.emulator.common import WARSAW
    data = sample_invoice(number)
    p1 = p1 or datetime.datetime.now(WARSAW).date().isoformat()
    p2 = p2 or "EMU/%s" % uuid.uuid4().hex[:12]
    data = re.sub(rb"<P_1>[^<]*</P_1>", b"<P_1>" + p1.encode() + b"</P_1>", data, count=1)
    data = re.sub(rb"<P_2>[^<]*</P_2>", b"<P_2>" + p2.encode() + b"</P_2>", data, count=1)
    return data


class Api:
    """Thin requests wrapper that validates every exchange against the OpenAPI."""

    def __init__(self, emu, check, access_token=None):
        self.emu = emu
        self.url = emu.url
        self.check = check
        self.http = requests.Session()
        self.token = access_token

    def call(self, method, path, token=None, validate_request=True, headers=None, **kwargs):
        hdrs = dict(PROBLEM)
        hdrs.update(headers or {})
        bearer = token if token is not None else self.token
        if bearer:
            hdrs["Authorization"] = "Bearer %s" % bearer
        response = self.http.request(method, self.url + path, headers=hdrs, timeout=30, **kwargs)
        self.check(response, validate_request=validate_request)
        return response

    def public_key(self, usage):
        keys = self.call("GET", "/security/public-key-certificates").json()
        item = next(k for k in keys if usage in k["usage"])
        cert = x509.load_der_x509_certificate(b64decode(item["certificate"]), backend())
        return cert.public_key(), item["publicKeyId"]

    # --- authentication ---------------------------------------------------------------
    def token_login(self, nip, ksef_token, expect_status=200):
        challenge = self.call("POST", "/auth/challenge").json()
        key, key_id = self.public_key("KsefTokenEncryption")
        plain = ("%s|%d" % (ksef_token, challenge["timestampMs"])).encode()
        body = {"challenge": challenge["challenge"],
                "contextIdentifier": {"type": "Nip", "value": nip},
                "encryptedToken": b64encode(rsa_oaep_encrypt(key, plain)), "publicKeyId": key_id}
        init = self.call("POST", "/auth/ksef-token", json=body)
        assert init.status_code == 202, init.text
        return self.finish_login(init.json(), expect_status)

    def xades_login(self, nip, cert, key, expect_status=200, context_nip=None):
        from ksef import xades
        challenge = self.call("POST", "/auth/challenge").json()
        xml = xades.build_auth_token_request(challenge["challenge"], "Nip", context_nip or nip)
        signed = xades.sign_xades(xml, cert, key)
        init = self.call("POST", "/auth/xades-signature", data=signed,
                         headers={"Content-Type": "application/xml"})
        assert init.status_code == 202, init.text
        return self.finish_login(init.json(), expect_status)

    def finish_login(self, init, expect_status=200):
        auth_token = init["authenticationToken"]["token"]
        ref = init["referenceNumber"]
        for _ in range(50):
            status = self.call("GET", "/auth/%s" % ref, token=auth_token).json()
            if status["status"]["code"] != 100:
                break
            time.sleep(0.05)
        assert status["status"]["code"] == expect_status, status
        if expect_status != 200:
            return status
        tokens = self.call("POST", "/auth/token/redeem", token=auth_token).json()
        self.token = tokens["accessToken"]["token"]
        tokens["authenticationToken"] = auth_token
        tokens["referenceNumber"] = ref
        return tokens

    # --- sessions -----------------------------------------------------------------------
    def open_session(self):
        key, key_id = self.public_key("SymmetricKeyEncryption")
        aes, iv = new_aes_key(), new_iv()
        body = {"formCode": {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"},
                "encryption": {"encryptedSymmetricKey": b64encode(rsa_oaep_encrypt(key, aes)),
                               "initializationVector": b64encode(iv), "publicKeyId": key_id}}
        response = self.call("POST", "/sessions/online", json=body)
        assert response.status_code == 201, response.text
        return response.json()["referenceNumber"], aes, iv

    @staticmethod
    def invoice_body(xml, aes, iv, **extra):
        encrypted = aes_encrypt(xml, aes, iv)
        body = {"invoiceHash": sha256_b64(xml), "invoiceSize": len(xml),
                "encryptedInvoiceHash": sha256_b64(encrypted), "encryptedInvoiceSize": len(encrypted),
                "encryptedInvoiceContent": b64encode(encrypted)}
        body.update(extra)
        return body

    def send(self, session_ref, xml, aes, iv, **extra):
        return self.call("POST", "/sessions/online/%s/invoices" % session_ref,
                         json=self.invoice_body(xml, aes, iv, **extra))

    def invoice_status(self, session_ref, invoice_ref):
        return self.call("GET", "/sessions/%s/invoices/%s" % (session_ref, invoice_ref)).json()
