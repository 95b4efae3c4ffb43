"""KSeF 2.0 core: pure Python, no Odoo import anywhere in this package.

Inside Odoo it is imported as ``odoo.addons.l10n_pl_ksef.ksef``; from the
repository root as ``ksef``. Modules import each other relatively only.
"""

__version__ = "19.0.1.0.0"
