"""Soak: purchase invoices arrive in KSeF in waves while the Odoo import runs overlap, crash and
meet truncated packages; afterwards no invoice is missed and none is imported twice.

Each round of the soak:

* the seller side adds a wave of invoices to the emulator, some of them offline invoices
  issued weeks ago that reach KSeF only now (old issue dates, new storage dates), and moves
  KSeF's high-water mark;
* packages are small (``export_invoice_cap``), so increments are truncated mid-way and
  continued;
* two import runs start at the same moment on separate database connections (two cron
  workers); in some rounds one of them crashes while storing bills (after some chunks are
  committed), and its transaction is lost as with a killed worker.

It prints::

    import soak: <n> invoices, missed <m>, duplicated <d>, ...

``missed``: invoices KSeF holds for us (up to its HWM) that are neither a bill nor a visible
refused-document record; ``duplicated``: KSeF numbers imported more than once. Targets: 0 and 0.

Run (a throw-away database with l10n_pl_ksef installed; it commits data):

    cd /tmp && /opt/odoo/venv/bin/python /work/main/bench/bench_import_soak.py -d ksef_isoak \\
        --addons-path=/opt/odoo/odoo/addons,/opt/odoo/odoo/odoo/addons,/tmp/ksef_addons \\
        [--rounds 25] [--seed 5]
"""
import argparse
import datetime
import os
import random
import sys
import threading
import time


class Crash(BaseException):
    """A worker killed while storing bills (not an Exception: nothing in Odoo catches it)."""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--nip", default="5265877635")
    args, odoo_args = parser.parse_known_args(argv)

    sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
    from odoo_boot import boot_registry, fresh_import_cursor, polish_company

    odoo, registry, dbname = boot_registry(odoo_args)
    from odoo import api
    from odoo.addons.l10n_pl_ksef.ksef.client import KSeFClient
    from odoo.addons.l10n_pl_ksef.ksef.emulator import Emulator
    from odoo.modules.registry import Registry

    rng = random.Random(args.seed)
    emulator = Emulator(rate_limits="off")
    url = emulator.start(host="127.0.0.1", port=0)
    emulator.export_invoice_cap = 70                     # truncated packages
    token = emulator.make_ksef_token(args.nip)

    def new_client():
        client = KSeFClient(url, max_retry_after=0, auth_grace=1.0)
        client.authenticate_with_token(args.nip, token)
        return client

    with registry.cursor() as cr:
        env = api.Environment(cr, odoo.SUPERUSER_ID, {})
        company = polish_company(env, "KSeF import soak", args.nip)
        cursor = fresh_import_cursor(
            env, company, odoo.fields.Datetime.now() - datetime.timedelta(minutes=5))
        env["ir.config_parameter"].sudo().set_param("l10n_pl_ksef.import_commit_every", "25")
        company_id, cursor_id = company.id, cursor.id
        cr.commit()

    # loading the chart may have installed modules and rebuilt the registry: patch the
    # current one
    registry = Registry(dbname)
    Move = registry["account.move"]
    real_import = Move._l10n_pl_ksef_import_documents
    crash_plan = {}                # "calls": chunks stored before the importing worker is killed

    def import_documents(self, company, documents, run=None, responsible=None):
        plan = crash_plan.get("calls")
        if plan is not None:
            plan[0] -= 1
            if plan[0] < 0:
                raise Crash("killed while storing")
        return real_import(self, company, documents, run=run, responsible=responsible)
    Move._l10n_pl_ksef_import_documents = import_documents

    late, outcomes = 0, {}
    started = time.perf_counter()
    for round_number in range(args.rounds):
        count = rng.randint(20, 160)
        offline_late = rng.randint(0, 5)
        emulator.seed_incoming_invoices(args.nip, count, offline_late=offline_late, lines=1,
                                        seed=args.seed * 1000 + round_number)
        late += offline_late
        emulator.advance_hwm()
        crash_plan.clear()
        if rng.random() < 0.4:
            crash_plan["calls"] = [rng.randint(0, 1)]
        barrier = threading.Barrier(2, timeout=120)
        with registry.cursor() as cr:                   # the soak does not wait 15 minutes
            env = api.Environment(cr, odoo.SUPERUSER_ID, {})
            env["l10n_pl_ksef.import.cursor"].browse(cursor_id).next_run_after = False
            cr.commit()

        def worker(barrier=barrier):
            client = new_client()
            try:
                with registry.cursor() as cr:
                    env = api.Environment(cr, odoo.SUPERUSER_ID, {})
                    cursor = env["l10n_pl_ksef.import.cursor"].browse(cursor_id)
                    barrier.wait()
                    try:
                        state = cursor._l10n_pl_ksef_run(client=client)["state"]
                        cr.commit()
                    except Crash:
                        cr.rollback()
                        crash_plan.clear()          # one death per round
                        state = "crashed"
                    outcomes[state] = outcomes.get(state, 0) + 1
            finally:
                client.close()

        threads = [threading.Thread(target=worker, name="runner-%d" % i) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    crash_plan.clear()
    # quiet runs until the cursor has caught up with KSeF
    client = new_client()
    for _quiet in range(40):
        with registry.cursor() as cr:
            env = api.Environment(cr, odoo.SUPERUSER_ID, {})
            cursor = env["l10n_pl_ksef.import.cursor"].browse(cursor_id)
            cursor.next_run_after = False
            result = cursor._l10n_pl_ksef_run(client=client)
            cr.commit()
        if result["state"] == "done":
            break
    wall = time.perf_counter() - started
    Move._l10n_pl_ksef_import_documents = real_import

    with registry.cursor() as cr:
        env = api.Environment(cr, odoo.SUPERUSER_ID, {})
        got = env["account.move"].search([("company_id", "=", company_id),
                                          ("l10n_pl_ksef_imported", "=", True)]) \
            .mapped("l10n_pl_ksef_number")
        refused = env["l10n_pl_ksef.import.error"].search(
            [("company_id", "=", company_id)]).mapped("ksef_number")
    hwm = emulator.hwm_fixed
    with emulator.lock:
        expected = {row["ksefNumber"] for row in emulator.state.table("invoices").values()
                    if (row.get("buyerIdentifier") or {}).get("value") == args.nip
                    and row.get("ksefNumber") and row["permanentStorageTs"] <= hwm}
    stored = set(got) | set(refused)
    missed = len(expected - stored)
    duplicated = len(got) - len(set(got))
    print("import soak: %d invoices (%d late offline), missed %d, duplicated %d, refused %d, "
          "rounds %d, run outcomes %s, crashes while storing %d, %.0f s"
          % (len(expected), late, missed, duplicated, len(refused), args.rounds, outcomes,
             outcomes.get("crashed", 0), wall))
    emulator.stop()
    return 0 if (missed, duplicated) == (0, 0) else 1


if __name__ == "__main__":
    sys.exit(main())
