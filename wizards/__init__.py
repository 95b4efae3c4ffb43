from . import l10n_pl_ksef_connect_wizard  # noqa: F401 - Odoo registers models on import
from . import account_payment_register  # noqa: F401
