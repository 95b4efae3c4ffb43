/** Tour of the office cockpit: the companies at a glance, one click into a company. */
import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("l10n_pl_ksef_cockpit", {
    steps: () => [
        {
            content: "The cockpit lists the client company allowed to the user",
            trigger: ".o_list_view .o_data_row:contains('Klient B sp. z o.o.')",
        },
        {
            content: "Its connection and credential are shown",
            trigger: ".o_list_view .o_data_row:contains('Klient B sp. z o.o.'):contains('KSeF certificate')",
        },
        {
            content: "A company not allowed to the user is not there",
            trigger: ".o_list_view:not(:has(.o_data_row:contains('Klient C sp. z o.o.')))",
        },
        {
            content: "Open the company's KSeF settings",
            trigger: ".o_list_view .o_data_row:contains('Klient B sp. z o.o.') button[name='action_open_settings']",
            run: "click",
        },
        {
            content: "The settings of that company are open",
            trigger: ".o_form_view .oe_title:contains('Klient B sp. z o.o.')",
        },
        {
            content: "with its connection",
            trigger: ".o_form_view .o_field_widget[name='auth_method']:contains('KSeF certificate')",
        },
        {
            content: "Back to the cockpit",
            trigger: ".o_breadcrumb .o_back_button, .o_breadcrumb a:contains('KSeF office cockpit')",
            run: "click",
        },
        {
            content: "Switch to the kanban view",
            trigger: ".o_switch_view.o_kanban",
            run: "click",
        },
        {
            content: "The company's card offers its queue",
            trigger: ".o_kanban_record:contains('Klient B sp. z o.o.') button[name='action_open_queue']",
            run: "click",
        },
        {
            content: "The company's queue opens (empty)",
            trigger: ".o_breadcrumb:contains('Klient B sp. z o.o.: KSeF queue')",
        },
    ],
});
