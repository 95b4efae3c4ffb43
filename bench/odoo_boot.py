"""What the Odoo benchmarks share: booting a registry from Odoo's command-line options, and a
Polish bench company with its chart of accounts (not a benchmark itself)."""
import os
import sys


def boot_registry(odoo_args):
    """Odoo's options (``-d DB --addons-path ...``) -> (odoo module, registry, database name).

    Works under odoo-bin's interpreter or the venv's python (the source is then taken from
    $ODOO_SOURCE, default /opt/odoo/odoo)."""
    try:
        import odoo
    except ImportError:       # running with the venv's python outside odoo-bin
        sys.path.insert(0, os.environ.get("ODOO_SOURCE", "/opt/odoo/odoo"))
        import odoo
    from odoo.modules.registry import Registry
    from odoo.tools import config

    config.parse_config(odoo_args)
    dbname = config["db_name"]
    dbname = dbname[0] if isinstance(dbname, list) else dbname
    return odoo, Registry(dbname), dbname


def polish_company(env, name, nip, **values):
    """The company ``name`` (created with the Polish chart when missing)."""
    company = env["res.company"].search([("name", "=", name)], limit=1)
    if not company:
        # install_mode: l10n_pl is installed already; a new Polish company must not pull in
        # every module for Polish companies (account_peppol needs phonenumbers)
        company = env["res.company"].with_context(install_mode=True).create({
            "name": name, "country_id": env.ref("base.pl").id, "vat": "PL" + nip, **values})
        env["account.chart.template"].try_loading("pl", company, install_demo=False)
    return company


def fresh_import_cursor(env, company, start):
    """The company's import cursor, starting at ``start`` (naive UTC), with nothing imported
    yet and no minimum interval to wait; runs may take many increments."""
    cursor = env["l10n_pl_ksef.import.cursor"]._l10n_pl_ksef_get(company)
    cursor.write({"start_date": start, "checkpoint": False, "boundary_numbers": False,
                  "next_run_after": False})
    env["ir.config_parameter"].sudo().set_param(
        "l10n_pl_ksef.import_max_increments_per_run", "1000")
    return cursor
