"""Benchmark: import N purchase invoices from the KSeF emulator into Odoo as draft bills.

Reports API requests per 1,000 invoices (target <= 20), HTTP 429 answers (target 0),
wall time and peak memory (RSS), then checks 0 missed / 0 duplicated, and finally runs
two imports AT THE SAME TIME on separate database connections (two cron workers) and
checks that one of them stands aside and nothing is duplicated.

Run (a database with l10n_pl_ksef installed; it gets a bench company, commits data):

    cd /tmp && PYTHONPATH=/opt/odoo/odoo /opt/odoo/venv/bin/python /work/main/bench/bench_odoo_import.py \
        -d ksef_imp_bench --addons-path=/opt/odoo/odoo/addons,/opt/odoo/odoo/odoo/addons,/tmp/ksef_addons \
        --count 10000 [--rate-limits PRD] [--profile /tmp/import.prof]

``--profile`` writes a cProfile of the timed import (read it with
``python -m pstats FILE`` then ``sort cumtime`` / ``stats 40``).

Needs the core's ``ksef.sync.fetch_increment`` and ``Emulator.seed_incoming_invoices``.
"""
import argparse
import datetime
import os
import resource
import sys
import threading
import time


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--rate-limits", default="PRD", help="emulator limits: off|TEST|PRD")
    parser.add_argument("--nip", default="5265877635")
    parser.add_argument("--profile", metavar="FILE",
                        help="write a cProfile of the import runs to FILE (pstats format)")
    args, odoo_args = parser.parse_known_args(argv)

    sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
    from odoo_boot import boot_registry, fresh_import_cursor, polish_company

    odoo, registry, _dbname = boot_registry(odoo_args)
    from odoo import api
    from odoo.addons.l10n_pl_ksef.ksef.client import KSeFClient
    from odoo.addons.l10n_pl_ksef.ksef.emulator import Emulator

    emulator = Emulator(rate_limits=args.rate_limits)
    url = emulator.start(host="127.0.0.1", port=0)
    token = emulator.make_ksef_token(args.nip)

    answers = {"429": 0, "total": 0}
    lock = threading.Lock()

    def count_answer(response, *_args, **_kwargs):
        with lock:
            answers["total"] += 1
            if response.status_code == 429:
                answers["429"] += 1

    def new_client():
        client = KSeFClient(url)
        client.session.hooks["response"].append(count_answer)   # every answer, retries too
        client.authenticate_with_token(args.nip, token)
        return client

    with registry.cursor() as cr:
        env = api.Environment(cr, odoo.SUPERUSER_ID, {})
        company = polish_company(env, "KSeF import bench", args.nip)
        # start just before the seeded invoices: an older start is served in 3-month
        # windows (one export each), which would spend the export budget on empty windows
        cursor = fresh_import_cursor(
            env, company, odoo.fields.Datetime.now() - datetime.timedelta(hours=1))
        company_id, cursor_id = company.id, cursor.id
        cr.commit()

    print("seeding %d invoices ..." % args.count, flush=True)
    numbers = emulator.seed_incoming_invoices(args.nip, args.count, lines=3)
    emulator.advance_hwm()
    emulator.reset_counters()

    client = new_client()
    auth_requests = sum(emulator.counters.values())
    profiler = None
    if args.profile:
        import cProfile
        profiler = cProfile.Profile()
    started = time.monotonic()
    states = []
    with registry.cursor() as cr:
        env = api.Environment(cr, odoo.SUPERUSER_ID, {})
        cursor = env["l10n_pl_ksef.import.cursor"].browse(cursor_id)
        for _attempt in range(50):
            cursor.next_run_after = False  # the bench does not wait 15 minutes between runs
            if profiler:
                profiler.enable()
            result = cursor._l10n_pl_ksef_run(client=client)
            if profiler:
                profiler.disable()
            states.append(result["state"])
            if result["state"] == "done":
                break
            if result["state"] == "rate_limited":
                time.sleep(min(60, max(1, (cursor.next_run_after - odoo.fields.Datetime.now())
                                       .total_seconds())))
        cr.commit()
    wall = time.monotonic() - started
    if profiler:
        profiler.dump_stats(args.profile)
    counters = dict(emulator.counters)
    storage = sum(v for k, v in counters.items() if " /storage/" in k)   # no API limit
    requests = sum(counters.values()) - storage - auth_requests
    too_many = answers["429"]

    with registry.cursor() as cr:
        env = api.Environment(cr, odoo.SUPERUSER_ID, {})
        bills = env["account.move"].search([("company_id", "=", company_id),
                                            ("l10n_pl_ksef_imported", "=", True)])
        got = bills.mapped("l10n_pl_ksef_number")
    missed = len(set(numbers) - set(got))
    duplicated = len(got) - len(set(got))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    print("invoices           %d" % args.count)
    print("runs               %s" % states)
    print("API requests       %d (%.1f per 1,000 invoices; target <= 20)"
          % (requests, requests * 1000.0 / max(args.count, 1)))
    print("package downloads  %d (storage URLs, outside the API limits)" % storage)
    print("by operation       %s" % counters)
    print("HTTP 429           %d (target 0)" % too_many)
    print("wall time          %.1f s (%.1f invoices/s)" % (wall, args.count / max(wall, 1e-9)))
    print("peak memory (RSS)  %.0f MB" % peak_mb)
    print("missed             %d" % missed)
    print("duplicated         %d" % duplicated)

    # two cron workers at the same moment, each with its own connection
    more = emulator.seed_incoming_invoices(args.nip, 200)
    emulator.advance_hwm()
    with registry.cursor() as cr:
        env = api.Environment(cr, odoo.SUPERUSER_ID, {})
        env["l10n_pl_ksef.import.cursor"].browse(cursor_id).next_run_after = False
        cr.commit()
    outcomes = []
    barrier = threading.Barrier(2, timeout=120)

    def worker():
        client = new_client()
        try:
            with registry.cursor() as cr:
                env = api.Environment(cr, odoo.SUPERUSER_ID, {})
                cursor = env["l10n_pl_ksef.import.cursor"].browse(cursor_id)
                barrier.wait()
                outcomes.append(cursor._l10n_pl_ksef_run(client=client)["state"])
                cr.commit()
        except Exception as exc:  # noqa: BLE001 - reported, never hangs the other thread
            barrier.abort()
            outcomes.append("error: %r" % exc)

    threads = [threading.Thread(target=worker) for _i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with registry.cursor() as cr:
        env = api.Environment(cr, odoo.SUPERUSER_ID, {})
        got = env["account.move"].search([("company_id", "=", company_id),
                                          ("l10n_pl_ksef_imported", "=", True)]) \
            .mapped("l10n_pl_ksef_number")
    missed2 = len(set(numbers + more) - set(got))
    duplicated2 = len(got) - len(set(got))
    print("two runs at once   %s; missed %d, duplicated %d, HTTP 429 %d"
          % (sorted(outcomes), missed2, duplicated2, answers["429"]))
    emulator.stop()
    ok = not (missed or duplicated or missed2 or duplicated2) and sorted(outcomes) == [
        "done", "skipped"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
