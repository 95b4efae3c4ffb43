/** Tour of l10n_pl_ksef (issue 12): a client company connected through its accounting office. */
import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("l10n_pl_ksef_connect_office", {
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
            content: "Choose the local emulator (where the office's credential is)",
            trigger: ".modal .o_field_widget[name='environment'] label:contains('Local emulator')",
            run: "click",
        },
        {
            content: "Choose: through the accounting office",
            trigger: ".modal .o_field_widget[name='auth_method'] label:contains('Through the accounting office')",
            run: "click",
        },
        {
            content: "The wizard says what the client grants in KSeF",
            trigger: ".modal .alert:contains('Aplikacja Podatnika KSeF'):contains('InvoiceWrite')",
        },
        {
            content: "The wizard says offline invoices need the client's own Offline certificate",
            trigger: ".modal .alert:contains('KOD II carries the seller')",
        },
        {
            content: "Look for the office's stored credential",
            trigger: ".modal .o_field_widget[name='office_id'] input",
            run: "edit Liczyd",
        },
        {
            content: "Choose it",
            trigger: ".ui-menu-item a:contains('Biuro Rachunkowe')",
            run: "click",
        },
        {
            content: "Connect",
            trigger: ".modal .modal-footer button:contains('Connect'):enabled",
            run: "click",
        },
        {
            content: "The wizard says it is connected through the office",
            trigger: ".modal .o_field_widget[name='result_message']:contains('through the accounting office')",
        },
        {
            content: "Close the wizard",
            trigger: ".modal .modal-footer button:contains('Close')",
            run: "click",
        },
        {
            content: "The settings show the connection through the office",
            trigger: ".o_form_view .o_field_widget[name='auth_method']:contains('Through the accounting office')",
        },
        {
            content: "and that it is connected",
            trigger: ".o_form_view .o_field_widget[name='state']:contains('Connected')",
        },
    ],
});
