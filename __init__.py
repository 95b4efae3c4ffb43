try:  # outside Odoo (the core's pytest run, `python -m ksef`) only ksef/ is usable
    import odoo  # noqa: F401
except ImportError:  # pragma: no cover
    odoo = None
if odoo is not None:
    from . import tools
    from . import models
    from . import wizards


def _l10n_pl_ksef_post_init(env):
    """Create the KSeF settings record of every existing company."""
    for company in env["res.company"].search([]):
        company._l10n_pl_ksef_get_config()
