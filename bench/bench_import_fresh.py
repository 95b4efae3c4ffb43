"""Benchmark: the first import of N purchase invoices (corrections included) into a young
database whose PostgreSQL statistics are stale, for several N: the time must grow linearly.

Why: creating invoices makes Odoo run queries that join account_move_line with itself and
with account_move (the payment state of new invoices, the payments reconciled with them);
when the planner believes those tables are empty (statistics taken before the import: a
young database, or a long transaction such as a test) it picks nested loops costing
lines x lines x moves, and a 500-bill import ran for hours (issue "The Odoo suite hangs at
random"). The import now keeps the statistics from underestimating the rows it adds
(AccountMove._l10n_pl_ksef_refresh_statistics) and creates bills in batches of 50.

For each N the bench makes a fresh database, installs l10n_pl_ksef into it (with account
and l10n_pl, no demo data), freezes the accounting
tables' statistics in the chosen state with autovacuum off for them, so they stay wrong for
the whole import, whatever it commits:

* ``--stats empty`` (default): statistics that say the tables are empty although they have
  pages (reltuples 0, relpages 40: what the hung CI run had, what VACUUM leaves after rows
  were removed); the planner then expects 0 rows however many there are;
* ``--stats never``: no statistics at all (pg_statistic rows removed, reltuples -1).

Then it seeds N invoices in the KSeF emulator (about one in ten a KOR correction of an
earlier one), imports them through the import cursor (``_l10n_pl_ksef_run``, the cron's own
path; ``--one-transaction`` keeps everything in one transaction, as a test does), counts
what Odoo computed, checks 0 missed / 0 duplicated, drops the database, and prints as its
last line:

    fresh import: N=500 <s> s (<ms> ms/bill), N=2000 <s> s (<ms> ms/bill), per-bill ratio <r>

Run (Odoo 19 at /opt/odoo, the addon linked as /tmp/ksef_addons/l10n_pl_ksef):

    cd /tmp && PYTHONPATH=/opt/odoo/odoo /opt/odoo/venv/bin/python /work/main/bench/bench_import_fresh.py \
        --addons-path=/opt/odoo/odoo/addons,/opt/odoo/odoo/odoo/addons,/tmp/ksef_addons \
        --counts 500,2000 [--stats empty|never] [--one-transaction]
"""
import argparse
import datetime
import os
import subprocess
import sys
import time

TABLES = ("account_move", "account_move_line", "account_partial_reconcile",
          "account_payment", "account_full_reconcile")


def psql(dbname, sql):
    subprocess.run(["psql", "-q", "-X", "-d", dbname, "-c", sql], check=True,
                   stdout=subprocess.DEVNULL)


def prepare_database(dbname, addons_path, stats):
    subprocess.run(["dropdb", "--if-exists", dbname], check=True)
    subprocess.run(["createdb", dbname], check=True)
    odoo_bin = os.path.join(os.environ.get("ODOO_HOME", "/opt/odoo"), "odoo", "odoo-bin")
    subprocess.run([sys.executable, odoo_bin, "-d", dbname, "--addons-path=" + addons_path,
                    "-i", "l10n_pl_ksef", "--stop-after-init", "--http-port=0",
                    "--log-level=warn", "--without-demo=all"], check=True)
    for table in TABLES:
        psql(dbname, "ALTER TABLE %s SET (autovacuum_enabled = off)" % table)
        if stats == "empty":
            # what the hung CI run had: the table has pages (rows of earlier, rolled back
            # tests) but its statistics say 0 rows, so the planner expects 0 rows however
            # many there are; VACUUM leaves exactly that after removing dead rows
            psql(dbname, "ANALYZE %s" % table)
            psql(dbname, "UPDATE pg_class SET relpages = GREATEST(relpages, 40), "
                         "reltuples = 0 WHERE oid = '%s'::regclass" % table)
        else:
            psql(dbname, "DELETE FROM pg_statistic WHERE starelid = '%s'::regclass" % table)
            psql(dbname, "UPDATE pg_class SET reltuples = -1, relpages = 0 "
                         "WHERE oid = '%s'::regclass" % table)


def import_once(dbname, addons_path, count, one_transaction, nip):
    import odoo
    from odoo import api
    from odoo.modules.registry import Registry
    from odoo.tools import config

    config.parse_config(["-d", dbname, "--addons-path=" + addons_path])
    registry = Registry(dbname)
    from odoo.addons.l10n_pl_ksef.ksef.client import KSeFClient
    from odoo.addons.l10n_pl_ksef.ksef.emulator import Emulator

    emulator = Emulator(rate_limits="off")
    url = emulator.start(host="127.0.0.1", port=0)
    token = emulator.make_ksef_token(nip)
    with registry.cursor() as cr:
        env = api.Environment(cr, odoo.SUPERUSER_ID, {})
        company = env["res.company"].create({
            "name": "KSeF fresh import bench", "country_id": env.ref("base.pl").id,
            "vat": "PL" + nip})
        env["account.chart.template"].try_loading("pl", company, install_demo=False)
        cursor = env["l10n_pl_ksef.import.cursor"]._l10n_pl_ksef_get(company)
        cursor.write({"start_date": odoo.fields.Datetime.now() - datetime.timedelta(hours=1),
                      "checkpoint": False, "boundary_numbers": False, "next_run_after": False})
        params = env["ir.config_parameter"].sudo()
        params.set_param("l10n_pl_ksef.import_max_increments_per_run", "1000")
        if one_transaction:
            params.set_param("l10n_pl_ksef.import_commit_every", str(count + 1))
        company_id, cursor_id = company.id, cursor.id
        cr.commit()

    numbers = emulator.seed_incoming_invoices(nip, count, lines=2, seed=count)
    emulator.advance_hwm()
    client = KSeFClient(url)
    client.authenticate_with_token(nip, token)

    computed = {"calls": 0, "records": 0}
    registry = Registry(dbname)   # loading the chart may have installed modules: reloaded
    Model = registry["account.move"]
    original = Model._compute_payment_state

    def counting(self):
        computed["calls"] += 1
        computed["records"] += len(self)
        return original(self)

    Model._compute_payment_state = counting
    started = time.monotonic()
    try:
        with registry.cursor() as cr:
            env = api.Environment(cr, odoo.SUPERUSER_ID, {})
            cursor = env["l10n_pl_ksef.import.cursor"].browse(cursor_id)
            for _attempt in range(20):
                cursor.next_run_after = False
                result = cursor._l10n_pl_ksef_run(client=client)
                if result["state"] == "done":
                    break
            cr.commit()
    finally:
        Model._compute_payment_state = original
    wall = time.monotonic() - started
    with registry.cursor() as cr:
        env = api.Environment(cr, odoo.SUPERUSER_ID, {})
        bills = env["account.move"].search([("company_id", "=", company_id),
                                            ("l10n_pl_ksef_imported", "=", True)])
        got = bills.mapped("l10n_pl_ksef_number")
        refunds = len(bills.filtered(lambda m: m.move_type == "in_refund"))
        linked = len(bills.filtered("l10n_pl_ksef_corrected_move_id"))
        states = set(bills.mapped("payment_state"))
    client.close()
    emulator.stop()
    registry.delete(dbname)
    return {"wall": wall, "missed": len(set(numbers) - set(got)),
            "duplicated": len(got) - len(set(got)), "refunds": refunds, "linked": linked,
            "states": states, "computed": computed, "state": result["state"]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="500,2000")
    parser.add_argument("--stats", choices=("empty", "never"), default="empty")
    parser.add_argument("--one-transaction", action="store_true")
    parser.add_argument("--addons-path", required=True)
    parser.add_argument("--nip", default="5265877635")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.counts.split(",")]
    results = []
    ok = True
    for count in counts:
        dbname = "ksef_fresh_bench_%d" % count
        prepare_database(dbname, args.addons_path, args.stats)
        # each N in its own process: a fresh registry, nothing cached from the previous N
        out = subprocess.run(
            [sys.executable, __file__, "--addons-path", args.addons_path, "--nip", args.nip,
             "--child", dbname, str(count), "1" if args.one_transaction else "0"],
            check=False, capture_output=True, text=True)
        sys.stderr.write(out.stderr[-3000:] if out.returncode else "")
        line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
        print("N=%d (%s statistics, %s): %s" % (
            count, args.stats, "one transaction" if args.one_transaction else
            "commits every 200 bills", line), flush=True)
        if not line.startswith("result "):
            ok = False
            results.append((count, float("nan")))
        else:
            fields = dict(item.split("=", 1) for item in line.split()[1:])
            results.append((count, float(fields["wall"])))
            ok = ok and fields["missed"] == "0" and fields["duplicated"] == "0"
        if not args.keep:
            subprocess.run(["dropdb", "--if-exists", dbname], check=False)
    parts = ["N=%d %.1f s (%.1f ms/bill)" % (n, wall, wall * 1000 / n) for n, wall in results]
    per_bill = [wall / n for n, wall in results]
    ratio = per_bill[-1] / per_bill[0] if len(per_bill) > 1 and per_bill[0] else 1.0
    print("fresh import: %s, per-bill ratio %.2f" % (", ".join(parts), ratio))
    return 0 if ok else 1


def child(argv):
    dbname, count, one = argv[0], int(argv[1]), argv[2] == "1"
    parser = argparse.ArgumentParser()
    parser.add_argument("--addons-path", required=True)
    parser.add_argument("--nip", required=True)
    args, _rest = parser.parse_known_args(sys.argv[1:])
    res = import_once(dbname, args.addons_path, count, one, args.nip)
    print("result wall=%.2f missed=%d duplicated=%d refunds=%d linked=%d "
          "payment_state_computed=%d/%d states=%s run=%s" % (
              res["wall"], res["missed"], res["duplicated"], res["refunds"], res["linked"],
              res["computed"]["records"], res["computed"]["calls"],
              ",".join(sorted(res["states"])), res["state"]))


if __name__ == "__main__":
    if "--child" in sys.argv:
        position = sys.argv.index("--child")
        child(sys.argv[position + 1:position + 4])
        sys.exit(0)
    sys.exit(main())
