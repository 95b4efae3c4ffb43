"""Benchmark: an accounting office, N client companies in one Odoo database (issue 12).

Builds N Polish client companies (each with Odoo's Polish chart of accounts), connects every one
to the KSeF emulator, by default *through the accounting office*: one office credential stored
once, each client logging in in its own context after granting the office InvoiceWrite and
InvoiceRead in KSeF (``--credential token`` connects each client with a token of its own
instead). It queues ``--invoices`` customer invoices and seeds ``--purchases`` purchase invoices
per company in the emulator (PRD rate-limit profile), then runs the send and import crons through
Odoo's own scheduler path (``ir.cron._process_jobs``: the cron runs with its progress API and
time budget and is run again while it reports work left) and measures each cycle.

``--workers 2``: two cron runners at once, each its own thread and database connection calling
the scheduler, plus two processes' worth of direct calls of the cron methods (as a second Odoo
server would make), for both crons: duplicates and misses are then what the locks allow.

``--workers 2 --server``: the crons run in a real Odoo server started for the bench
(``odoo-bin --workers=2 --max-cron-threads=2``: two cron worker processes, each job under the
worker's real time limit), while two more processes call the cron methods directly at the same
time. The bench triggers each cron, waits until every invoice has its KSeF number / every
purchase invoice is imported (or nothing is left to run), and counts the server's ERROR lines.
The server's crons serve every connected company of the database: give ``--companies`` all the
companies built there, or the requests per company count the others' too.

Run it as a script that boots the registry (NOT part of the test run; it commits into the
database given; the addon is installed there when it is not yet):

    createdb -T odoo19_pl ksef_office_bench          # a database with account + l10n_pl
    cd /tmp && /opt/odoo/venv/bin/python /work/main/bench/bench_office.py -d ksef_office_bench \\
        --addons-path=/opt/odoo/odoo/addons,/opt/odoo/odoo/odoo/addons,/tmp/ksef_addons \\
        --companies 400 [--invoices 2] [--purchases 5] [--workers 2 [--server]] \
        [--credential office|token]

(/tmp/ksef_addons/l10n_pl_ksef: a symlink to the repository.) Companies already built by an
earlier run are reused (building one costs about 3 s: its chart of accounts), so a second run
measures the cycles only. The last line is exactly (one line):

    office N=<n>: send cycle <s> s, import cycle <s> s, requests/company <r>, 429 <k>,
    duplicates <d>, missed <m>, peak <mb> MB
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, HERE)
SCHEMA_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "ksef", "schemas", "FA"))
OFFICE_NIP = "7251801126"
PREFIX = "Klient biura"


def ensure_installed(args, extra):
    """Install l10n_pl_ksef into the database when it is not (a subprocess of odoo-bin)."""
    import psycopg2

    with psycopg2.connect(dbname=args.database) as conn, conn.cursor() as cr:
        cr.execute("SELECT state FROM ir_module_module WHERE name = 'l10n_pl_ksef'")
        row = cr.fetchone()
    if row and row[0] == "installed":
        return
    odoo_bin = os.path.join(os.environ.get("ODOO_SOURCE", "/opt/odoo/odoo"), "odoo-bin")
    print("installing l10n_pl_ksef into %s" % args.database, flush=True)
    subprocess.run([sys.executable, odoo_bin, "-d", args.database] + extra  # noqa: S603
                   + ["-i", "l10n_pl_ksef", "--stop-after-init", "--no-http", "--log-level=warn"],
                   check=True)


def client_nips(count):
    from ksef.nip import make_nip

    nips, prefix = [], 526100000
    while len(nips) < count:
        nip = make_nip("%09d" % prefix)
        prefix += 7
        if nip and nip != OFFICE_NIP:
            nips.append(nip)
    return nips


def office_available(env):
    return "l10n_pl_ksef.office" in env.registry


def build_companies(registry, nips, credential, emulator):
    """Companies named PREFIX 001..N with the Polish chart, connected; committed one by one."""
    from odoo import api
    from odoo_boot import polish_company

    from ksef import certs

    office_cert = None
    with registry.cursor() as cr:
        env = api.Environment(cr, 1, {})
        if credential == "office" and office_available(env):
            office = env["l10n_pl_ksef.office"].search([("nip", "=", OFFICE_NIP)], limit=1)
            if not office:
                office_cert = certs.make_test_certificate(nip=OFFICE_NIP, key_type="ec",
                                                          cert_type=certs.AUTHENTICATION)
    built = []
    for index, nip in enumerate(nips, 1):
        with registry.cursor() as cr:
            env = api.Environment(cr, 1, {})
            company = polish_company(env, "%s %03d" % (PREFIX, index), nip, street="ul. Biurowa %d" % index,
                                     zip="00-%03d" % (index % 1000), city="Warszawa")
            config = company._l10n_pl_ksef_get_config()
            if config.state == "connected" and credential == "office" and office_available(env) \
                    and config.auth_method != "office":
                # built by an earlier run with a token of its own: moved to the office credential
                config.action_l10n_pl_ksef_disconnect()
            if config.state != "connected":
                connect(env, company, config, nip, credential, emulator, office_cert)
            config.write({"send_on_post": False})
            built.append(company.id)
            cr.commit()
        if index % 25 == 0:
            print("  %d/%d companies ready" % (index, len(nips)), flush=True)
    return built


def office_credential(env, office_cert):
    """The office's credential, stored once (created on first use from ``office_cert``)."""
    from ksef import certs

    office = env["l10n_pl_ksef.office"].search([("nip", "=", OFFICE_NIP)], limit=1)
    if office:
        return office
    # stored the way the connect wizard stores it (encrypted, managers only); each client
    # company is added to it when it is connected through it
    office = env["l10n_pl_ksef.office"].create({"name": "Biuro Rachunkowe (bench)", "nip": OFFICE_NIP,
                                                "environment": "emulator"})
    credentials = certs.load_credentials(office_cert.cert_pem, office_cert.key_pem, None,
                                         expected_type=certs.AUTHENTICATION)
    office._l10n_pl_ksef_store_certificate(credentials, office_cert.key_pem, None)
    return office


def connect(env, company, config, nip, credential, emulator, office_cert):
    wizard_vals = {"config_id": config.id, "environment": "emulator"}
    if credential == "office" and office_available(env):
        # the client grants the office in KSeF (entity permissions to the office's NIP)
        emulator.grant_permissions(nip, "Nip", OFFICE_NIP, ["InvoiceWrite", "InvoiceRead"])
        office = office_credential(env, office_cert)
        wizard_vals.update(auth_method="office", office_id=office.id)
        env["l10n_pl_ksef.connect.wizard"].create(wizard_vals).action_l10n_pl_ksef_connect()
        return
    wizard_vals.update(auth_method="token", token=emulator.make_ksef_token(nip))
    env["l10n_pl_ksef.connect.wizard"].create(wizard_vals).action_l10n_pl_ksef_connect()


def queue_invoices(registry, company_ids, per_company):
    from odoo import Command, api

    with registry.cursor() as cr:
        env = api.Environment(cr, 1, {})
        pl = env.ref("base.pl")
        buyer = env["res.partner"].search([("vat", "=", "PL1234563218")], limit=1) or \
            env["res.partner"].create({"name": "Odbiorca S.A.", "vat": "PL1234563218", "country_id": pl.id,
                                       "street": "ul. Kwiatowa 5", "zip": "30-001", "city": "Kraków",
                                       "is_company": True, "company_id": False})
        queued = 0
        for company in env["res.company"].browse(company_ids):
            cenv = env(context={"allowed_company_ids": [company.id]})
            tax = company.account_sale_tax_id
            for number in range(per_company):
                move = cenv["account.move"].create({
                    "move_type": "out_invoice", "partner_id": buyer.id, "company_id": company.id,
                    "invoice_date": date.today(), "invoice_date_due": date.today() + timedelta(days=14),
                    "invoice_line_ids": [Command.create({"name": "Usługa %d" % number, "quantity": 1,
                                                         "price_unit": 100.0 + number,
                                                         "tax_ids": [Command.set(tax.ids)]})]})
                move.action_post()
                queued += bool(move._l10n_pl_ksef_enqueue())
            cr.commit()
        return queued


def run_cron(registry, dbname, xmlid, runners, direct_method):
    """Run one cron until it has nothing left: ``runners`` scheduler threads (each its own
    connection, as Odoo's cron threads) and, with 2 runners, as many direct calls of the cron
    method at once (as a second server would make). Returns the wall time."""
    from odoo import api, sql_db
    from odoo.addons.base.models.ir_cron import IrCron

    def due():
        with registry.cursor() as cr:
            env = api.Environment(cr, 1, {})
            cron = env.ref(xmlid)
            cr.execute("SELECT count(*) FROM ir_cron_trigger WHERE cron_id = %s "
                       "AND call_at <= now() at time zone 'utc'", [cron.id])
            return cron, cr.fetchone()[0]

    with registry.cursor() as cr:
        env = api.Environment(cr, 1, {})
        cron_id = env.ref(xmlid).id
        env.ref(xmlid)._trigger()
        cr.commit()
    started = time.monotonic()
    errors = []

    def process():
        # exactly what a cron thread does for a ready job (ir.cron._process_jobs), for this job
        # only: acquire it (FOR UPDATE SKIP LOCKED: one runner at a time), run it with its
        # progress API and time budget, reschedule it
        with sql_db.db_connect(dbname).cursor() as cron_cr:
            IrCron._process_jobs_loop(cron_cr, job_ids=[cron_id])

    def scheduler():
        try:
            for _round in range(200):
                process()
                if not due()[1]:
                    return
                time.sleep(0.05)
        except Exception as exc:  # noqa: BLE001 - reported, the bench goes on
            errors.append(exc)

    def direct():
        try:
            with registry.cursor() as cr:
                env = api.Environment(cr, 1, {})
                getattr(env[direct_method[0]], direct_method[1])()
                cr.commit()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=scheduler) for _ in range(runners)]
    if runners > 1:
        threads += [threading.Thread(target=direct) for _ in range(runners)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # what later runs still do (work left, an export KSeF is preparing, a retry at its time):
    # wait for the cron's next trigger as the scheduler would, when it is within two minutes
    for _round in range(100):
        with registry.cursor() as cr:
            cr.execute("SELECT EXTRACT(EPOCH FROM min(call_at) - (now() at time zone 'utc')) "
                       "FROM ir_cron_trigger WHERE cron_id = %s", [cron_id])
            wait = cr.fetchone()[0]
        if wait is None or wait > 120:
            break
        time.sleep(max(0.0, float(wait)) + 0.1)
        process()
    for exc in errors:
        print("  runner error: %r" % exc, flush=True)
    return time.monotonic() - started


def free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call_cron_method(args, extra):
    """``--call-cron MODEL.METHOD``: one direct call of a cron method in this process (what a
    second Odoo server's scheduler would do), committed; used by ``--server``."""
    from odoo_boot import boot_registry
    _odoo, registry, _dbname = boot_registry(["-d", args.database] + extra)
    from odoo import api

    model, method = args.call_cron.rsplit(".", 1)
    with registry.cursor() as cr:
        env = api.Environment(cr, 1, {})
        getattr(env[model], method)()
        cr.commit()


def start_direct_callers(args, extra, method, count):
    return [subprocess.Popen([sys.executable, os.path.realpath(__file__), "-d", args.database,  # noqa: S603
                              "--call-cron", method] + extra)
            for _ in range(count)]


def run_server_cycles(registry, args, extra, company_ids, expected_numbers):
    """``--server``: a real Odoo server with two workers and two cron worker processes runs both
    crons, two direct callers per cron run beside it. -> (send s, import s, ERROR lines, log)."""
    from odoo import api, fields

    send_xmlid, import_xmlid = ("l10n_pl_ksef.ir_cron_l10n_pl_ksef_send",
                                "l10n_pl_ksef.ir_cron_l10n_pl_ksef_import")
    with registry.cursor() as cr:
        env = api.Environment(cr, 1, {})
        crons = env.ref(send_xmlid) | env.ref(import_xmlid)
        # only the bench's triggers start them (not their interval while the other is measured)
        crons.write({"nextcall": "2099-01-01 00:00:00"})
        cr.execute("DELETE FROM ir_cron_trigger WHERE cron_id = ANY(%s)", [crons.ids])
        cr.commit()
    log = os.path.join(tempfile.gettempdir(), "%s.bench-server.log" % args.database)
    if os.path.exists(log):
        os.remove(log)                   # this run's lines only
    odoo_bin = os.path.join(os.environ.get("ODOO_SOURCE", "/opt/odoo/odoo"), "odoo-bin")
    # what the server prints outside its log (e.g. a long-polling process that cannot start in
    # a virtualenv without gevent's plugins) goes beside the log, not into the bench's output
    stderr = open(log + ".stderr", "w", encoding="utf-8")  # noqa: SIM115 - closed below
    server = subprocess.Popen([sys.executable, odoo_bin, "-d", args.database] + extra + [  # noqa: S603
        "--workers=2", "--max-cron-threads=2", "--http-interface=127.0.0.1",
        "--http-port=%d" % free_port(), "--gevent-port=%d" % free_port(), "--logfile=%s" % log,
        "--db-filter=^%s$" % args.database], stdout=stderr, stderr=stderr)
    time.sleep(8)    # the workers boot

    def pending_sends():
        with registry.cursor() as cr:
            cr.execute("""SELECT count(*) FROM account_move WHERE company_id = ANY(%s)
                          AND move_type = 'out_invoice' AND l10n_pl_ksef_state IN ('queued', 'sent')""",
                       [company_ids])
            return cr.fetchone()[0]

    def missing_bills():
        with registry.cursor() as cr:
            cr.execute("""SELECT DISTINCT l10n_pl_ksef_number FROM account_move
                          WHERE company_id = ANY(%s) AND l10n_pl_ksef_imported""", [company_ids])
            return len(expected_numbers - {row[0] for row in cr.fetchall()})

    def cycle(xmlid, method, left):
        with registry.cursor() as cr:
            env = api.Environment(cr, 1, {})
            cron = env.ref(xmlid)
            cron._trigger()
            cr.commit()
        started = time.monotonic()
        callers = start_direct_callers(args, extra, method, 2)
        idle_since = None
        while time.monotonic() - started < 1800:
            if not left():
                break
            with registry.cursor() as cr:
                cr.execute("SELECT min(call_at) - (now() at time zone 'utc') < interval '120 seconds' "
                           "FROM ir_cron_trigger WHERE cron_id = %s", [cron.id])
                scheduled = cr.fetchone()[0]
                # a cron worker holds the job's row while it runs it
                cr.execute("SELECT id FROM ir_cron WHERE id = %s FOR NO KEY UPDATE SKIP LOCKED",
                           [cron.id])
                scheduled = scheduled or not cr.fetchone()
                cr.rollback()
            running = any(caller.poll() is None for caller in callers)
            if not scheduled and not running:
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > 30:   # nothing left to run
                    break
            else:
                idle_since = None
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        for caller in callers:
            caller.wait()
        return elapsed

    try:
        send_s = cycle(send_xmlid, "account.move._cron_l10n_pl_ksef_send", pending_sends)
        import_s = cycle(import_xmlid, "l10n_pl_ksef.import.cursor._cron_l10n_pl_ksef_import",
                         missing_bills)
    finally:
        server.terminate()
        server.wait(timeout=120)
        stderr.close()
        with registry.cursor() as cr:
            env = api.Environment(cr, 1, {})
            for xmlid in (send_xmlid, import_xmlid):
                env.ref(xmlid).write({"nextcall": fields.Datetime.now()})
            cr.commit()
    with open(log, encoding="utf-8", errors="replace") as handle:
        errors = [line for line in handle if " ERROR " in line or " CRITICAL " in line]
    return send_s, import_s, errors, log


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--companies", type=int, default=20)
    parser.add_argument("--invoices", type=int, default=2, help="customer invoices per company")
    parser.add_argument("--purchases", type=int, default=5, help="purchase invoices per company")
    parser.add_argument("--workers", type=int, default=1, choices=(1, 2))
    parser.add_argument("--server", action="store_true",
                        help="with --workers 2: run the crons in a real odoo-bin --workers=2 "
                             "--max-cron-threads=2 server, with two direct callers beside it")
    parser.add_argument("--credential", default="office", choices=("office", "token"))
    parser.add_argument("-d", "--database", dest="database", required=True)
    parser.add_argument("--call-cron", help=argparse.SUPPRESS)
    args, extra = parser.parse_known_args()
    if args.call_cron:
        call_cron_method(args, extra)
        return
    ensure_installed(args, extra)
    from bench_odoo_send import ServerClock
    from odoo_boot import boot_registry
    odoo, registry, dbname = boot_registry(["-d", args.database] + extra)
    sys.path.insert(0, os.path.dirname(HERE))
    from odoo import api

    from ksef.emulator import Emulator

    # the emulator's state is kept beside the database's name, so that the companies (and their
    # credentials) built by an earlier run stay valid
    emulator = Emulator(schema_dir=SCHEMA_DIR if os.path.isdir(SCHEMA_DIR) else None, rate_limits="PRD",
                        db_path=os.path.join(tempfile.gettempdir(), "%s.emulator.sqlite" % args.database))
    url = emulator.start(host="127.0.0.1", port=0)
    port = int(url.split(":")[2].split("/")[0])
    with registry.cursor() as cr:
        env = api.Environment(cr, 1, {})
        env["ir.config_parameter"].sudo().set_param("l10n_pl_ksef.emulator_port", port)
    nips = client_nips(args.companies)
    print("building %d client companies (%s credential)" % (len(nips), args.credential), flush=True)
    t0 = time.monotonic()
    company_ids = build_companies(registry, nips, args.credential, emulator)
    print("  companies ready in %.0f s" % (time.monotonic() - t0), flush=True)
    with registry.cursor() as cr:
        env = api.Environment(cr, 1, {})
        env["l10n_pl_ksef.import.cursor"].search([("company_id", "in", company_ids)]).write(
            {"next_run_after": False})
        cr.commit()
    queued = queue_invoices(registry, company_ids, args.invoices)
    expected_numbers = set()
    for nip in nips:
        expected_numbers.update(emulator.seed_incoming_invoices(nip, args.purchases, lines=2,
                                                                seed=int(nip[-6:])))
    emulator.advance_hwm()
    emulator.reset_counters()
    clock = ServerClock(emulator)
    print("queued %d invoices, seeded %d purchase invoices" % (queued, len(expected_numbers)), flush=True)

    server_errors = None
    if args.server:
        send_s, import_s, server_errors, server_log = run_server_cycles(
            registry, args, extra, company_ids, expected_numbers)
    else:
        send_s = run_cron(registry, dbname, "l10n_pl_ksef.ir_cron_l10n_pl_ksef_send", args.workers,
                          ("account.move", "_cron_l10n_pl_ksef_send"))
        import_s = run_cron(registry, dbname, "l10n_pl_ksef.ir_cron_l10n_pl_ksef_import", args.workers,
                            ("l10n_pl_ksef.import.cursor", "_cron_l10n_pl_ksef_import"))

    with registry.cursor() as cr:
        env = api.Environment(cr, 1, {})
        moves = env["account.move"].search([("company_id", "in", company_ids),
                                            ("move_type", "=", "out_invoice"),
                                            ("l10n_pl_ksef_state", "!=", False)])
        hashes = {}
        for held in emulator.state.invoices.values():
            if held.get("invoiceHash"):
                hashes[held["invoiceHash"]] = hashes.get(held["invoiceHash"], 0) + 1
        sent_dup = sum(hashes.get(m.l10n_pl_ksef_invoice_hash, 0) > 1 for m in moves)
        unsent = sum(m.l10n_pl_ksef_state != "accepted" for m in moves)
        cr.execute("""SELECT l10n_pl_ksef_number, count(*) FROM account_move
                      WHERE company_id = ANY(%s) AND l10n_pl_ksef_imported GROUP BY 1""", [company_ids])
        imported = dict(cr.fetchall())
        bill_dup = sum(count - 1 for count in imported.values() if count > 1)
        missed = len(expected_numbers - set(imported)) + unsent
        print("  not accepted %d of %d invoices; purchase invoices not imported %d of %d"
              % (unsent, len(moves), len(expected_numbers - set(imported)), len(expected_numbers)))
        if unsent:
            cr.execute("""SELECT l10n_pl_ksef_state, count(*) FROM account_move WHERE company_id = ANY(%s)
                          AND move_type = 'out_invoice' AND l10n_pl_ksef_state != 'accepted'
                          GROUP BY 1""", [company_ids])
            print("  states: %s" % cr.fetchall())
    requests = sum(count for key, count in emulator.counters.items() if "/storage/" not in key)
    too_many = clock.statuses.get(429, 0)
    # the largest process: this one, or (--server) an Odoo worker or a direct caller
    peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
               resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024.0
    if server_errors is not None:
        print("  Odoo server --workers=2 --max-cron-threads=2: %d ERROR lines in %s"
              % (len(server_errors), server_log))
        for line in server_errors[:20]:
            print("    " + line.rstrip())
    emulator.stop()
    print("office N=%d: send cycle %.1f s, import cycle %.1f s, requests/company %.1f, 429 %d, "
          "duplicates %d, missed %d, peak %.0f MB"
          % (len(company_ids), send_s, import_s, requests / max(1, len(company_ids)), too_many,
             sent_dup + bill_dup, missed, peak))
    del odoo


if __name__ == "__main__":
    main()
