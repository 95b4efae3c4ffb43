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
    "data": [
        "security/l10n_pl_ksef_security.xml",
        "security/ir.model.access.csv",
        "security/ksef_payment_security.xml",
        "data/l10n_pl_ksef_data.xml",
        "views/l10n_pl_ksef_config_views.xml",
        "views/l10n_pl_ksef_office_views.xml",
        "views/res_company_views.xml",
        "views/res_config_settings_views.xml",
        "wizards/l10n_pl_ksef_connect_wizard_views.xml",
        "data/ir_cron_send.xml",
        "views/account_move_views.xml",
        "views/account_journal_dashboard_views.xml",
        "report/report_invoice.xml",
        "data/ir_cron_import.xml",
        "views/ksef_import_views.xml",
        "report/ksef_invoice_visualisation.xml",
        "views/l10n_pl_ksef_outage_views.xml",
        "views/ksef_payment_views.xml",
        "views/l10n_pl_ksef_cockpit_views.xml",
    ],
    "demo": [
        "data/l10n_pl_ksef_demo.xml",
    ],
    "assets": {
        "web.assets_backend": [
            "l10n_pl_ksef/static/src/js/**/*",
        ],
        "web.assets_tests": [
            "l10n_pl_ksef/static/tests/tours/**/*",
        ],
    },
    "images": ["static/description/icon.png"],
    "post_init_hook": "_l10n_pl_ksef_post_init",
}
