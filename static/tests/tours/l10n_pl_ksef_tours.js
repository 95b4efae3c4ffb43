/** Tours of l10n_pl_ksef: the user paths of README.md, walked in a real browser. */
import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("l10n_pl_ksef_connect_emulator", {
    steps: () => [
        {
            content: "The company's KSeF settings are not connected yet",
            trigger: ".o_form_view .o_field_widget[name='state']:contains('Not connected')",
        },
        {
            content: "Open the connect wizard",
            trigger: ".o_form_view .o_form_statusbar button:contains('Connect to KSeF')",
            run: "click",
        },
        {
            content: "Choose the local emulator (evaluation)",
            trigger: ".modal .o_field_widget[name='environment'] label:contains('Local emulator')",
            run: "click",
        },
        {
            content: "Connect with the embedded emulator",
            trigger: ".modal button:contains('Use the local KSeF emulator')",
            run: "click",
        },
        {
            content: "The wizard says it is connected",
            trigger: ".modal .o_field_widget[name='result_message']:contains('Connected to the local KSeF emulator')",
        },
        {
            content: "Close the wizard",
            trigger: ".modal .modal-footer button:enabled",
            run: "click",
        },
        {
            content: "The settings show the connection",
            trigger: ".o_form_view .o_field_widget[name='state']:contains('Connected')",
        },
    ],
});

registry.category("web_tour.tours").add("l10n_pl_ksef_import_from_bills_list", {
    steps: () => [
        {
            content: "The vendor bills list has the KSeF import button",
            trigger: ".o_control_panel button:contains('Import from KSeF now')",
            run: "click",
        },
        {
            content: "Odoo says how many bills arrived",
            trigger: ".o_notification:contains('3 new bill(s)')",
        },
        {
            content: "The imported bills are in the list",
            trigger: ".o_list_view .o_data_row:contains('sp. z o.o.')",
        },
    ],
});
