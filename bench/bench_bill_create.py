"""Benchmark: Odoo's own cost of a vendor bill, without KSeF (the ceiling of the import's speed).

Creates ``--count`` draft vendor bills of ``--lines`` lines each (23% purchase VAT, an existing
vendor, the expense account given on each line as the import gives it) in one Polish company
with nothing but Odoo's ``account.move.create``, in batches of ``--batch`` bills per call (the
import's own batch size, ``CREATE_BATCH``), and prints the time per bill.
``bench_odoo_import.py`` imports the same kind of bills from KSeF: the difference between the
two is what the KSeF import adds (reading the FA(3), vendor and line mapping, attachment,
chatter note).

    cd /tmp && /opt/odoo/venv/bin/python /work/main/bench/bench_bill_create.py -d ksef_imp_bench \\
        --addons-path=/opt/odoo/odoo/addons,/opt/odoo/odoo/odoo/addons,/tmp/ksef_addons \\
        --count 1000 [--lines 3] [--batch 50] [--profile FILE]

It commits its bills into the database given (a bench database). The last line is:

    odoo bill create: <n> bills, <ms> ms a bill, <b> bills/s
"""
import argparse
import os
import sys
import time
from datetime import date


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--lines", type=int, default=3)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--nip", default="5265877635")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the creation")
    args, odoo_args = parser.parse_known_args(argv)
    sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
    from odoo_boot import boot_registry, polish_company

    odoo, registry, _dbname = boot_registry(odoo_args)
    from odoo import Command, api

    with registry.cursor() as cr:
        env = api.Environment(cr, odoo.SUPERUSER_ID, {})
        company = polish_company(env, "KSeF import bench", args.nip)
        env = env(context={"allowed_company_ids": [company.id]})
        vendor = env["res.partner"].search([("vat", "=", "PL7251801126")], limit=1) or \
            env["res.partner"].create({"name": "Dostawca bench sp. z o.o.", "vat": "PL7251801126",
                                       "is_company": True, "country_id": env.ref("base.pl").id})
        tax = env["account.tax"].search([("company_id", "=", company.id),
                                         ("type_tax_use", "=", "purchase"), ("amount", "=", 23),
                                         ("amount_type", "=", "percent")], limit=1)
        # the account given, as the import gives it (predicted once per vendor): Odoo's own
        # per-line prediction is not part of what is compared
        account = env["account.account"].search([("company_ids", "in", company.id),
                                                 ("account_type", "=", "expense")], limit=1)
        # sound planner statistics, as the KSeF import keeps them (_l10n_pl_ksef_refresh_statistics)
        cr.execute("ANALYZE account_move")
        cr.execute("ANALYZE account_move_line")
        cr.commit()
        vals_list = [{
            "move_type": "in_invoice", "partner_id": vendor.id, "company_id": company.id,
            "invoice_date": date.today(), "ref": "BENCH/%d/%s" % (number, time.time_ns()),
            "invoice_line_ids": [Command.create({
                "name": "Pozycja %d" % line, "account_id": account.id, "quantity": 1 + line,
                "price_unit": 10.0 + number % 97,
                "tax_ids": [Command.set(tax.ids)]}) for line in range(args.lines)],
        } for number in range(args.count)]
        Move = env["account.move"].with_context(default_move_type="in_invoice",
                                                mail_create_nolog=True, mail_create_nosubscribe=True)
        profiler = None
        if args.profile:
            import cProfile
            profiler = cProfile.Profile()
            profiler.enable()
        started = time.monotonic()
        for start in range(0, len(vals_list), args.batch):
            Move.create(vals_list[start:start + args.batch])
        env.flush_all()
        wall = time.monotonic() - started
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
        cr.commit()
    per_bill = wall * 1000.0 / max(1, args.count)
    print("odoo bill create: %d bills, %.1f ms a bill, %.0f bills/s"
          % (args.count, per_bill, args.count / max(wall, 1e-9)))


if __name__ == "__main__":
    main()
