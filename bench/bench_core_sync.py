"""Benchmark of the purchase sync and batch sending (not a test): prints numbers.

    python bench/bench_core_sync.py [--invoices 10000] [--batch 1000] [--rate-limits PRD]

1. seeds N purchase invoices (FA(3), XSD-checked samples) in an in-process emulator running the
   PRD rate-limit profile, then runs ksef.sync.fetch_increment until complete (export path):
   API requests per 1,000 invoices, 429 answers, wall time, peak Python memory (tracemalloc,
   emulator included since it runs in the same process) and the process's max RSS;
2. sends M invoices in one batch session (ksef.batch) and counts the API requests used.
"""
import argparse
import os
import re
import resource
import sys
import time
import tracemalloc
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ksef import batch, sync  # noqa: E402
from ksef.client import KSeFClient  # noqa: E402
from ksef.emulator import Emulator  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared", "ksef")
SCHEMA_DIR = os.path.join(SHARED, "schemas", "FA")
SAMPLE = os.path.join(SHARED, "samples", "fa3", "FA_3_Przykład_1.xml")
BUYER = "5261040828"
SELLER = "9999999999"


def api_requests(emu):
    return sum(v for k, v in emu.counters.items() if " /storage/" not in k)


def make_client(emu, nip, statuses):
    client = KSeFClient(emu.url, timeout=(5, 120))

    def hook(response, *args, **kwargs):
        statuses.append(response.status_code)
        return response
    client.session.hooks["response"].append(hook)
    client.authenticate_with_token(nip, emu.make_ksef_token(nip))
    return client


def bench_sync(emu, count):
    started = time.perf_counter()
    emu.seed_incoming_invoices(BUYER, count, seed=1)
    emu.advance_hwm()
    seeded = time.perf_counter() - started
    statuses = []
    client = make_client(emu, BUYER, statuses)
    emu.reset_counters()
    statuses.clear()
    tracemalloc.start()
    started = time.perf_counter()
    checkpoint, seen, numbers, increments, errors = None, frozenset(), set(), 0, 0
    while True:
        inc = sync.fetch_increment(client, "Subject2", checkpoint, seen=seen)
        increments += 1
        numbers.update(doc.ksef_number for doc in inc.invoices)
        errors += len(inc.errors)
        checkpoint, seen = inc.new_checkpoint, inc.boundary_numbers
        if inc.is_complete:
            break
    wall = time.perf_counter() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    used = api_requests(emu)
    print("purchase sync (export path, %s rate limits)" % emu.rate_limiter.profile)
    print("  seeded %d invoices in %.1f s" % (count, seeded))
    print("  received %d distinct invoices (%d refused) in %d increment(s)" % (len(numbers), errors,
                                                                                increments))
    print("  API requests: %d  -> %.1f per 1,000 invoices" % (used, used * 1000.0 / max(1, len(numbers))))
    for key, value in sorted(emu.counters.items()):
        print("    %-60s %d" % (key, value))
    print("  HTTP 429 answers: %d" % statuses.count(429))
    print("  wall time: %.2f s" % wall)
    print("  peak Python memory during the sync (tracemalloc, emulator included): %.1f MB"
          % (peak / 1e6))
    print("  process max RSS so far: %.1f MB" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def sample_invoice():
    with open(SAMPLE, "rb") as handle:
        data = handle.read()
    number = "FV/BENCH/%s" % uuid.uuid4().hex[:12]
    data = re.sub(rb"<P_2>[^<]*</P_2>", b"<P_2>" + number.encode() + b"</P_2>", data, count=1)
    today = time.strftime("%Y-%m-%d").encode()
    return re.sub(rb"<P_1>[^<]*</P_1>", b"<P_1>" + today + b"</P_1>", data, count=1)


def bench_batch(emu, count):
    statuses = []
    client = make_client(emu, SELLER, statuses)
    files = {"inv-%05d.xml" % i: sample_invoice() for i in range(count)}
    emu.reset_counters()
    started = time.perf_counter()
    result = client.send_batch(files)
    status = batch.wait_for_batch(client, result.reference_number, timeout=600)
    listed = client.list_session_invoices(result.reference_number)
    upos = [client.get_session_upo(result.reference_number, page.reference_number)
            for page in status.upo_pages]
    wall = time.perf_counter() - started
    print("batch send of %d invoices" % count)
    print("  session status %s: %s accepted, %s failed; %d listed; %d UPO page(s); %d part(s)" % (
        status.code, status.successful_invoice_count, status.failed_invoice_count, len(listed),
        len(upos), result.part_count))
    print("  API requests (open, close, status, list, UPO): %d; part uploads: %d; 429s: %d" % (
        api_requests(emu), emu.counters.get("PUT /storage/batch/{referenceNumber}/{ordinalNumber}", 0),
        statuses.count(429)))
    print("  wall time (emulator validates every invoice against the XSD): %.2f s" % wall)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--rate-limits", default="PRD")
    args = parser.parse_args(argv)
    schema = SCHEMA_DIR if os.path.isdir(SCHEMA_DIR) else None
    with Emulator(schema_dir=schema, rate_limits=args.rate_limits) as emu:
        bench_sync(emu, args.invoices)
        if args.batch:
            bench_batch(emu, args.batch)


if __name__ == "__main__":
    main()
