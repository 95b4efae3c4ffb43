"""Benchmark (not a test) of the QR code module: time per KOD I link, KOD II link (RSA and EC),
PNG image and SVG image.

Run from the repository root:  python bench/bench_qr.py [--seconds 1.0]
"""
import argparse
import datetime
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ksef import certs, qr  # noqa: E402  (after the sys.path line, to run as a script)

INVOICE = b"<Faktura>" + b"x" * 3000 + b"</Faktura>"   # about the size of an FA(3) sample
KSEF_NUMBER = "5265877635-20250729-01004014E040-00"


def measure(label, func, seconds):
    func()  # warm up
    count, start = 0, time.perf_counter()
    while True:
        func()
        count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
    per_call = elapsed / count
    print("%-36s %10.3f ms   (%d runs)" % (label, per_call * 1000, count))
    return per_call


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0, help="time spent per measurement")
    args = parser.parse_args()
    day = datetime.date(2026, 2, 1)
    rsa_cert = certs.make_test_certificate("5265877635", cert_type="Offline", key_type="rsa")
    ec_cert = certs.make_test_certificate("5265877635", cert_type="Offline", key_type="ec")

    def kod1():
        return qr.invoice_verification_url("TEST", "5265877635", day, invoice_xml=INVOICE)

    def kod2(tc):
        return lambda: qr.certificate_verification_url(
            "TEST", "Nip", "5265877635", "5265877635", tc.certificate, tc.private_key,
            invoice_xml=INVOICE)

    kod1_url = kod1()
    rsa_url = kod2(rsa_cert)()
    ec_url = kod2(ec_cert)()
    print("link lengths: KOD I %d, KOD II RSA %d, KOD II EC %d characters"
          % (len(kod1_url), len(rsa_url), len(ec_url)))
    measure("KOD I link", kod1, args.seconds)
    measure("KOD II link, RSA 2048 (PSS)", kod2(rsa_cert), args.seconds)
    measure("KOD II link, EC P-256 (ECDSA)", kod2(ec_cert), args.seconds)
    measure("verify KOD II, RSA", lambda: qr.verify_certificate_url(rsa_url, rsa_cert.certificate),
            args.seconds)
    measure("verify KOD II, EC", lambda: qr.verify_certificate_url(ec_url, ec_cert.certificate),
            args.seconds)
    measure("PNG, KOD I + KSeF number", lambda: qr.qr_png(kod1_url, KSEF_NUMBER), args.seconds)
    measure("PNG, KOD II RSA + CERTYFIKAT", lambda: qr.qr_png(rsa_url, qr.LABEL_CERTIFICATE), args.seconds)
    measure("PNG, KOD II EC + CERTYFIKAT", lambda: qr.qr_png(ec_url, qr.LABEL_CERTIFICATE), args.seconds)
    measure("SVG, KOD I + KSeF number", lambda: qr.qr_svg(kod1_url, KSEF_NUMBER), args.seconds)
    measure("SVG, KOD II RSA + CERTYFIKAT", lambda: qr.qr_svg(rsa_url, qr.LABEL_CERTIFICATE), args.seconds)


if __name__ == "__main__":
    main()
