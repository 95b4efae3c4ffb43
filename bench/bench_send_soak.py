"""Soak: N customer invoices through Odoo's normal send path while KSeF misbehaves and the
worker is killed at random points; afterwards nothing may be lost or duplicated.

Each round of the soak:

* queues the next wave of invoices (1 to 60 at a time: small waves go in online sessions,
  larger ones in batch sessions);
* makes the emulator misbehave at random: HTTP 500/503 on a sending operation, a burst of 429
  with Retry-After, a request that times out, or one whose answer is lost after KSeF accepted
  it (``drop_after_accept``);
* runs the send cron, and in some rounds kills it between two of its steps (the engine's
  fault points ``before_send``, ``after_send``, ``batch_opened``, ``before_close``: the states
  written so far are committed, the rest of the transaction is lost, as with a killed worker).

It ends when every invoice is accepted (or after ``--rounds``) and prints::

    send soak: <n> invoices, lost <l>, duplicated <d>, ...

``lost``: invoices without an accepted KSeF number that the emulator does not hold either;
``duplicated``: invoices the emulator holds more than once (accepted). Targets: 0 and 0.

Run (a throw-away database with l10n_pl_ksef installed; it commits data):

    cd /tmp && /opt/odoo/venv/bin/python /opt/odoo/odoo/odoo-bin server -d ksef_soak \\
        --addons-path=/opt/odoo/odoo/addons,/opt/odoo/odoo/odoo/addons,/tmp/ksef_addons \\
        -i l10n_pl_ksef --without-demo=all --stop-after-init          # once
    cd /tmp && /opt/odoo/venv/bin/python /work/main/bench/bench_send_soak.py -d ksef_soak \\
        --addons-path=/opt/odoo/odoo/addons,/opt/odoo/odoo/odoo/addons,/tmp/ksef_addons \\
        --count 1000 [--seed 7] [--rounds 600]

The per-company hourly budgets of the engine are lifted for the soak (it compresses hours of
traffic into minutes); the emulator's own rate limits are off, 429s are injected instead.
"""
import argparse
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, HERE)

SEND_PATHS = (
    ("POST", "/sessions/online"),
    ("POST", "/sessions/online/{referenceNumber}/invoices"),
    ("POST", "/sessions/online/{referenceNumber}/close"),
    ("POST", "/sessions/batch"),
    ("POST", "/sessions/batch/{referenceNumber}/close"),
    ("PUT", "/storage/batch/{referenceNumber}/{ordinalNumber}"),
    ("GET", "/sessions/{referenceNumber}"),
    ("GET", "/sessions/{referenceNumber}/invoices"),
)
KILL_POINTS = ("before_send", "after_send", "batch_opened", "before_close")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=600)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--nip", default="5265877635")
    args, odoo_args = parser.parse_known_args(argv)

    from odoo_boot import boot_registry

    odoo, registry, _dbname = boot_registry(odoo_args)
    from bench_odoo_send import make_invoices, setup_company
    from odoo import api
    from odoo.addons.l10n_pl_ksef.ksef.emulator import Emulator
    from odoo.addons.l10n_pl_ksef.models import l10n_pl_ksef_submission as submission

    submission.ONLINE_SENDS_PER_HOUR = 10 ** 6        # hours of traffic in minutes
    submission.BATCH_SESSIONS_PER_HOUR = 10 ** 6
    rng = random.Random(args.seed)
    emulator = Emulator(rate_limits="off")
    url = emulator.start(host="127.0.0.1", port=0)
    port = int(url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
    token = emulator.make_ksef_token(args.nip)
    run_tag = time.strftime("%H%M%S")
    print("emulator %s, %d invoices, seed %d" % (url, args.count, args.seed), flush=True)

    with registry.cursor() as cr:
        env = api.Environment(cr, odoo.SUPERUSER_ID, {})
        env["ir.config_parameter"].sudo().set_param("l10n_pl_ksef.emulator_port", port)
        env["ir.config_parameter"].sudo().set_param("l10n_pl_ksef.timeout", "2")
        company = setup_company(env, args.nip, token)
        moves = make_invoices(env, company, args.count, 2, "S" + run_tag)
        moves.action_post()
        cr.commit()
        move_ids, company_id = moves.ids, company.id

    injected, kills = {}, 0
    started = time.perf_counter()
    waiting = list(move_ids)
    rounds = 0
    with registry.cursor() as cr:
        env = api.Environment(cr, odoo.SUPERUSER_ID, {"allowed_company_ids": [company_id]})
        Move = env["account.move"]
        while rounds < args.rounds:
            rounds += 1
            if waiting:
                size = rng.choice((1, 2, 3, 4, 20, 60))
                wave, waiting = waiting[:size], waiting[size:]
                Move.browse(wave)._l10n_pl_ksef_enqueue()
                cr.commit()
            emulator.faults.clear()
            if rng.random() < 0.35:
                kind = rng.choice(("http500", "http503", "http429", "timeout", "drop_after_accept"))
                method, path = rng.choice(SEND_PATHS)
                params = {"retry_after": 1} if kind == "http429" else (
                    {"seconds": 3.0} if kind == "timeout" else {})
                emulator.faults.add(kind, path=path, method=method,
                                    count=rng.randint(1, 3), **params)
                injected[kind] = injected.get(kind, 0) + 1
            kill = rng.choice(KILL_POINTS) if rng.random() < 0.25 else None
            try:
                Move.with_context(l10n_pl_ksef_fault=kill)._cron_l10n_pl_ksef_send()
                cr.commit()
            except submission.KsefFault:
                cr.rollback()                 # the worker died here: its uncommitted work is lost
                kills += 1
            env.invalidate_all()
            if not waiting and not Move.search_count([
                    ("id", "in", move_ids), ("l10n_pl_ksef_state", "!=", "accepted")]):
                break
            time.sleep(0.2)
        emulator.faults.clear()
        # a last few quiet runs settle what the faults left open
        for _quiet in range(20):
            if not Move.search_count([("id", "in", move_ids),
                                      ("l10n_pl_ksef_state", "in", ("queued", "sent"))]):
                break
            Move._cron_l10n_pl_ksef_send()
            cr.commit()
            env.invalidate_all()
            time.sleep(1.0)
        moves = Move.browse(move_ids)
        states = {}
        for move in moves:
            states[move.l10n_pl_ksef_state] = states.get(move.l10n_pl_ksef_state, 0) + 1
        hashes = {move.id: move.l10n_pl_ksef_invoice_hash for move in moves}
        numbers = {move.id: move.l10n_pl_ksef_number for move in moves}
        messages = moves.filtered(lambda m: m.l10n_pl_ksef_state != "accepted")[:3].mapped(
            "l10n_pl_ksef_message")
    wall = time.perf_counter() - started

    held = {}
    for invoice in emulator.state.invoices.values():
        if invoice["status"]["code"] == 200:
            held.setdefault(invoice.get("invoiceHash"), []).append(invoice["ksefNumber"])
    duplicated = sum(1 for h in hashes.values() if len(held.get(h, [])) > 1)
    lost = sum(1 for move_id, h in hashes.items() if not held.get(h))
    unmatched = sum(1 for move_id, h in hashes.items()
                    if held.get(h) and numbers[move_id] not in held[h])
    print("send soak: %d invoices, lost %d, duplicated %d, number differs from KSeF %d, "
          "states %s, rounds %d, faults injected %s, worker killed %d times, %.0f s"
          % (len(hashes), lost, duplicated, unmatched, states, rounds, injected, kills, wall))
    if messages:
        print("not accepted, e.g.: %s" % messages)
    emulator.stop()
    return 0 if (lost, duplicated, unmatched) == (0, 0, 0) else 1


if __name__ == "__main__":
    sys.exit(main())
