"""Benchmark of the KSeF client (not a test): prints numbers.

    python bench/bench_client.py [--invoices 20]

1. client CPU per invoice for hashing + AES encryption + Base64 of a 10 kB FA(3) invoice
   (target: under 5 ms);
2. against an in-process emulator: HTTP requests per online-sent invoice (send, status polls,
   UPO), and the client thread's CPU per send (the emulator's threads are not counted).
"""
import argparse
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ksef import crypto  # noqa: E402
from ksef.client import KSeFClient  # noqa: E402
from ksef.emulator import Emulator  # noqa: E402
from ksef.sessions import build_send_request  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.join(ROOT, "..", "shared", "ksef", "samples", "fa3", "FA_3_Przykład_1.xml")
NIP = "9999999999"


def invoice_of_size(size, number):
    with open(SAMPLE, "rb") as handle:
        data = handle.read()
    data = re.sub(rb"<P_2>[^<]*</P_2>", b"<P_2>" + number.encode() + b"</P_2>", data, count=1)
    if len(data) < size:   # pad with an XML comment to reach the size
        data = data.replace(b"</Faktura>", b"<!--" + b"x" * (size - len(data) - 7) + b"--></Faktura>")
    return data


def bench_crypto(rounds=2000):
    invoice = invoice_of_size(10 * 1024, "FV/BENCH/CPU")
    key, iv = crypto.new_aes_key(), crypto.new_iv()
    build_send_request(invoice, key, iv)
    start = time.process_time()
    for _ in range(rounds):
        build_send_request(invoice, key, iv)
    per = (time.process_time() - start) / rounds * 1000
    print("hash + encrypt + base64 of a %d-byte invoice: %.3f ms CPU per invoice (target < 5 ms)"
          % (len(invoice), per))
    return per


def bench_emulator(invoices):
    with Emulator() as emu:
        client = KSeFClient(emu.url)
        client.authenticate_with_token(NIP, emu.make_ksef_token(NIP))
        session = client.open_online_session()
        emu.reset_counters()
        send_cpu = 0.0
        flow_cpu = 0.0
        start_wall = time.monotonic()
        for index in range(invoices):
            invoice = invoice_of_size(10 * 1024, "FV/BENCH/%d/%s" % (index, os.urandom(3).hex()))
            flow_start = time.thread_time()
            sent = session.send_invoice(invoice)
            send_cpu += time.thread_time() - flow_start
            status = session.wait_for_invoice(sent.reference_number, timeout=30, poll_interval=0.05)
            status.raise_for_rejection()
            client.get_invoice_upo(session.reference_number, invoice_ref=sent.reference_number)
            flow_cpu += time.thread_time() - flow_start
        wall = time.monotonic() - start_wall
        counters = dict(emu.counters)
        session.close()
        client.logout()
    total = sum(counters.values())
    print("online send of %d invoices (10 kB) against the in-process emulator, %.2f s wall:"
          % (invoices, wall))
    for name, value in sorted(counters.items()):
        print("   %-70s %4d  (%.2f per invoice)" % (name, value, value / invoices))
    print("requests per invoice (send + status polls + UPO): %.2f" % (total / invoices))
    print("client CPU per send (POST only, thread time): %.2f ms" % (send_cpu / invoices * 1000))
    print("client CPU per invoice (send + wait + UPO, thread time): %.2f ms" % (flow_cpu / invoices * 1000))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--invoices", type=int, default=20)
    args = parser.parse_args(argv)
    bench_crypto()
    bench_emulator(args.invoices)


if __name__ == "__main__":
    main()
