{
    "name": "Poland - KSeF 2.0 e-invoicing",
    "version": "19.0.1.0.0",
    "summary": "Send sales invoices to and import purchase invoices from "
               "the Polish National e-Invoice System (KSeF 2.0, FA(3))",
    "category": "Accounting/Localizations/EDI",
    "author": "l10n_pl_ksef developers",
    "license": "LGPL-3",
    "depends": ["account", "l10n_pl"],
    "external_dependencies": {
        "python": ["cryptography", "lxml", "requests", "qrcode", "holidays"],
    },
    "data": [],
    "installable": True,
    "application": False,
}
