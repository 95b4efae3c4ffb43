from odoo import fields, models


class ResPartner(models.Model):
    _inherit = "res.partner"

    l10n_pl_ksef_created_by_import = fields.Boolean(
        "Created by the KSeF import", readonly=True, copy=False,
        help="This vendor did not exist and was created from a purchase invoice received "
             "from KSeF. Check its data (address, bank account, payment terms).")
