"""Benchmark: N customer invoices posted in Odoo and accepted by the KSeF emulator.

Measures, under the emulator's PRD rate-limit profile:

* API requests used (all KSeF API calls incl. login; part uploads to the storage URL are
  listed separately, they are not KSeF API calls) — target <= 20 per 1,000 invoices;
* HTTP 429 answers seen — target 0;
* wall time of each phase: Odoo's own posting, queueing (our FA(3) build + XSD check +
  attachment per invoice), sending (cron: batch session, results, UPO);
* Odoo time per invoice from posting to KSeF number = (queueing + sending - the emulator's own
  server-side time, measured inside its request dispatcher) / N — target < 50 ms;
* our FA(3) generation per invoice against Odoo's l10n_pl_edi (``_l10n_pl_edi_render_xml``) on the
  same invoices in the same run (caches cleared before each pass) — target ratio >= 3.

Run it as a script that boots the registry (NOT part of the test run; it commits data into the
database given, which needs l10n_pl_ksef and l10n_pl_edi installed, e.g. a throw-away one):

    cd /tmp && /opt/odoo/venv/bin/python /opt/odoo/odoo/odoo-bin server -d ksef_send2_bench \\
        --addons-path=/opt/odoo/odoo/addons,/opt/odoo/odoo/odoo/addons,/tmp/ksef_addons \\
        -i l10n_pl_ksef,l10n_pl_edi --without-demo=all --stop-after-init      # once
    cd /tmp && /opt/odoo/venv/bin/python /work/main/bench/bench_odoo_send.py -d ksef_send2_bench \\
        --addons-path=/opt/odoo/odoo/addons,/opt/odoo/odoo/odoo/addons,/tmp/ksef_addons \\
        --count 1000 [--rate-limits PRD] [--lines 3]

(/tmp/ksef_addons/l10n_pl_ksef is a symlink to the repository; the Odoo source is taken from
$ODOO_SOURCE, default /opt/odoo/odoo, when ``odoo`` is not importable.) The emulator runs in-process
on a free port; the FA(3) XSD of ../shared/ksef/schemas/FA is used (by us and by the emulator)
when it exists.
"""
import argparse
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.realpath(__file__))
SCHEMA_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "ksef", "schemas", "FA"))


class ServerClock:
    """Wraps the emulator's dispatcher: time spent handling requests, and statuses answered."""

    def __init__(self, emulator):
        self.seconds = 0.0
        self.statuses = {}
        self._lock = threading.Lock()
        inner = emulator._dispatch

        def timed(req):
            started = time.perf_counter()
            response = inner(req)
            spent = time.perf_counter() - started
            status = getattr(response, "status", "dropped")
            with self._lock:
                self.seconds += spent
                self.statuses[status] = self.statuses.get(status, 0) + 1
            return response

        emulator._dispatch = timed

    def reset(self):
        with self._lock:
            self.seconds = 0.0
            self.statuses = {}


def setup_company(env, nip, token):
    from odoo_boot import polish_company

    company = polish_company(env, "KSeF send bench", nip, street="ul. Prosta 1", zip="00-001",
                             city="Warszawa")
    env.user.write({"company_ids": [(4, company.id)], "company_id": company.id})
    config = company._l10n_pl_ksef_get_config()
    env["l10n_pl_ksef.connect.wizard"].create({
        "config_id": config.id, "environment": "emulator", "auth_method": "token",
        "token": token}).action_l10n_pl_ksef_connect()
    config.write({"send_on_post": False, "batch_threshold": 5})
    return company


def make_invoices(env, company, count, lines, run_tag):
    from odoo import Command
    from odoo.addons.l10n_pl_ksef.ksef.nip import make_nip

    env = env(context=dict(env.context, allowed_company_ids=[company.id]))
    Chart = env["account.chart.template"].with_company(company)
    taxes = [Chart.ref(x) for x in ("vs_kraj_23", "vs_kraj_8", "vs_kraj_5")]
    pl = env.ref("base.pl")
    buyers = env["res.partner"].search([("ref", "=like", "ksef-bench-%")], limit=20)
    if len(buyers) < 20:
        nips = [nip for nip in (make_nip(123456000 + i) for i in range(60)) if nip][:20]
        buyers = env["res.partner"].create([{
            "name": "Odbiorca %d sp. z o.o." % i, "vat": "PL" + nip, "ref": "ksef-bench-%d" % i,
            "country_id": pl.id, "street": "ul. Kwiatowa %d" % i, "zip": "30-001", "city": "Kraków",
            "is_company": True} for i, nip in enumerate(nips)])
    product = env["product.product"].search([("default_code", "=", "KSEF-BENCH")], limit=1) or \
        env["product.product"].create({"name": "Usługa", "default_code": "KSEF-BENCH", "lst_price": 100})
    today = time.strftime("%Y-%m-%d")
    vals = []
    for i in range(count):
        vals.append({
            "move_type": "out_invoice", "company_id": company.id,
            "partner_id": buyers[i % len(buyers)].id, "invoice_date": today, "date": today,
            "name": "FV/B%s/%05d" % (run_tag, i),
            "invoice_line_ids": [Command.create({
                "product_id": product.id, "name": "Pozycja %d" % (j + 1), "quantity": 1 + j,
                "price_unit": 10.0 + i % 50 + j, "tax_ids": [Command.set(taxes[(i + j) % 3].ids)],
            }) for j in range(lines)],
        })
    return env["account.move"].create(vals)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--lines", type=int, default=3)
    parser.add_argument("--rate-limits", default="PRD", help="emulator limits: off|TEST|PRD")
    parser.add_argument("--nip", default="5265877635")
    parser.add_argument("--profile", action="store_true",
                        help="print the top functions (cProfile) of the queueing and sending phases")
    args, odoo_args = parser.parse_known_args(argv)

    if os.path.isdir(SCHEMA_DIR):
        os.environ.setdefault("KSEF_SCHEMA_DIR", SCHEMA_DIR)
    schema_dir = os.environ.get("KSEF_SCHEMA_DIR")

    sys.path.insert(0, HERE)
    from odoo_boot import boot_registry

    odoo, registry, _dbname = boot_registry(odoo_args)
    from odoo import api
    from odoo.addons.l10n_pl_ksef.ksef.emulator import Emulator
    from odoo.addons.l10n_pl_ksef.ksef.fa3.builder import build_invoice_xml

    emulator = Emulator(schema_dir=schema_dir, rate_limits=args.rate_limits)
    url = emulator.start(host="127.0.0.1", port=0)
    port = int(url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
    clock = ServerClock(emulator)
    token = emulator.make_ksef_token(args.nip)
    run_tag = time.strftime("%H%M%S")
    print("emulator %s, rate limits %s, XSD %s" % (url, args.rate_limits, schema_dir or "not used"),
          flush=True)

    with registry.cursor() as cr:
        env = api.Environment(cr, odoo.SUPERUSER_ID, {})
        env["ir.config_parameter"].sudo().set_param("l10n_pl_ksef.emulator_port", port)
        company = setup_company(env, args.nip, token)
        started = time.perf_counter()
        moves = make_invoices(env, company, args.count, args.lines, run_tag)
        create_s = time.perf_counter() - started
        cr.commit()
        move_ids, company_id = moves.ids, company.id
    print("created %d draft invoices in %.1f s" % (args.count, create_s), flush=True)

    emulator.reset_counters()
    clock.reset()
    with registry.cursor() as cr:
        env = api.Environment(cr, odoo.SUPERUSER_ID, {"allowed_company_ids": [company_id]})
        moves = env["account.move"].browse(move_ids)
        started = time.perf_counter()
        moves.action_post()
        env.flush_all()
        post_s = time.perf_counter() - started
        cr.commit()

        profiler = None
        if args.profile:
            import cProfile
            profiler = cProfile.Profile()
            profiler.enable()
        env.invalidate_all()
        started = time.perf_counter()
        queued = moves._l10n_pl_ksef_enqueue()
        env.flush_all()
        queue_s = time.perf_counter() - started
        cr.commit()
        assert len(queued) == len(moves), "not all invoices could be queued: %s" % (
            (moves - queued)[:3].mapped("l10n_pl_ksef_message"))

        env.invalidate_all()
        server_before = clock.seconds
        started = time.perf_counter()
        runs = 0
        while runs < 30:
            runs += 1
            env["account.move"]._cron_l10n_pl_ksef_send()
            env.invalidate_all()
            if not moves.filtered(lambda m: m.l10n_pl_ksef_state in ("queued", "sent")):
                break
            time.sleep(1)
        send_s = time.perf_counter() - started
        server_s = clock.seconds - server_before
        if profiler:
            import pstats
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
        cr.commit()
        states = {}
        for move in moves:
            states[move.l10n_pl_ksef_state] = states.get(move.l10n_pl_ksef_state, 0) + 1
        numbers = moves.mapped("l10n_pl_ksef_number")
        hashes = set(moves.mapped("l10n_pl_ksef_invoice_hash"))

    counters = dict(emulator.counters)
    api_requests = sum(n for key, n in counters.items() if " /storage/" not in key)
    storage = sum(n for key, n in counters.items() if " /storage/" in key)
    held = [inv for inv in emulator.state.invoices.values()
            if inv.get("invoiceHash") in hashes and inv["status"]["code"] == 200]
    too_many = clock.statuses.get(429, 0)
    n = args.count
    odoo_ms = (queue_s + send_s - server_s) * 1000.0 / n

    print()
    print("invoices                 %d (%d lines each)" % (n, args.lines))
    print("states                   %s" % states)
    print("KSeF numbers             %d distinct; emulator holds %d accepted copies (sent twice: %d, lost: %d)"
          % (len(set(filter(None, numbers))), len(held), len(held) - len({i["invoiceHash"] for i in held}),
             n - len({i["invoiceHash"] for i in held})))
    print("API requests             %d (%.1f per 1,000 invoices; target <= 20) + %d part upload(s)"
          % (api_requests, api_requests * 1000.0 / n, storage))
    print("by operation             %s" % ", ".join("%s=%d" % kv for kv in sorted(counters.items())))
    print("HTTP 429                 %d (target 0); statuses %s" % (too_many, clock.statuses))
    print("cron runs                %d" % runs)
    print("Odoo posting (standard)  %.1f s (%.1f ms/invoice; Odoo's own, not KSeF)"
          % (post_s, post_s * 1000 / n))
    print("queueing (FA(3)+XSD+att) %.1f s (%.1f ms/invoice)" % (queue_s, queue_s * 1000 / n))
    print("sending (cron)           %.1f s wall, of which emulator server-side %.1f s" % (send_s, server_s))
    print("wall time post->numbers  %.1f s" % (post_s + queue_s + send_s))
    print("Odoo time per invoice    %.1f ms from queueing to KSeF number, emulator time excluded "
          "(target < 50 ms)" % odoo_ms)

    # FA(3) generation: ours vs l10n_pl_edi, same invoices, same run
    with registry.cursor() as cr:
        env = api.Environment(cr, odoo.SUPERUSER_ID, {"allowed_company_ids": [company_id]})
        moves = env["account.move"].browse(move_ids)
        if "_l10n_pl_edi_render_xml" not in dir(moves):
            print("l10n_pl_edi is not installed in this database: no comparison")
            return 0

        def timed_pass(func):
            best = None
            for _round in range(2):
                env.invalidate_all()
                started = time.perf_counter()
                for move in moves:
                    func(move)
                spent = time.perf_counter() - started
                best = spent if best is None else min(best, spent)
            return best * 1000.0 / len(moves)

        try:
            moves[0]._l10n_pl_edi_render_xml()
        except Exception as exc:  # noqa: BLE001 - report why the comparison cannot run
            print("l10n_pl_edi cannot render these invoices (%s): no comparison" % exc)
            return 0
        edi_ms = timed_pass(lambda m: m._l10n_pl_edi_render_xml())
        ours_ms = timed_pass(lambda m: m._l10n_pl_ksef_build_xml())
        ours_noxsd_ms = timed_pass(
            lambda m: build_invoice_xml(m._l10n_pl_ksef_prepare_fa3_invoice(), validate=False))
        cr.rollback()
    print("FA(3) per invoice        ours %.2f ms (with XSD validation), %.2f ms (without); "
          "l10n_pl_edi %.2f ms (QWeb, no validation)" % (ours_ms, ours_noxsd_ms, edi_ms))
    print("ratio l10n_pl_edi / ours %.1fx (with our XSD check), %.1fx (like for like, no XSD); "
          "target >= 3x" % (edi_ms / ours_ms, edi_ms / ours_noxsd_ms))
    emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
