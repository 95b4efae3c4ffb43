/**
 * Tour of the office cockpit: the companies at a glance, one click into a company.
 *
 * It runs in English and in Polish (tests/test_cockpit.py TestKsefCockpitTour and
 * TestKsefCockpitTourPolish): the labels and titles the user must read are looked for in the
 * user's language (TEXTS below), so a text left in English fails the Polish tour.
 */
import { registry } from "@web/core/registry";
import { user } from "@web/core/user";

const CLIENT = "Klient B sp. z o.o."; // tests/test_cockpit.py: the client company allowed
const OTHER = "Klient C sp. z o.o."; // not allowed to the user

/** What the user must read, in each language (the Polish of i18n/pl.po). */
const TEXTS = {
    en: {
        cockpit: "KSeF office cockpit",
        credentialValidUntil: "Credential valid until",
        certificate: "KSeF certificate",
        queue: "Queue",
        queueOf: `${CLIENT}: KSeF queue`,
    },
    pl: {
        cockpit: "Kokpit biura rachunkowego KSeF",
        credentialValidUntil: "Poświadczenie ważne do",
        certificate: "Certyfikat KSeF",
        queue: "Kolejka",
        queueOf: `${CLIENT}: Kolejka KSeF`,
    },
};

function texts() {
    return (user.lang || "").startsWith("pl") ? TEXTS.pl : TEXTS.en;
}

function contains(text) {
    return `:contains(${JSON.stringify(text)})`;
}

registry.category("web_tour.tours").add("l10n_pl_ksef_cockpit", {
    steps: () => {
        const T = texts();
        return [
            {
                content: "The cockpit is open, under its name",
                trigger: `.o_breadcrumb${contains(T.cockpit)}`,
            },
            {
                content: "The cockpit lists the client company allowed to the user",
                trigger: `.o_list_view .o_data_row${contains(CLIENT)}`,
            },
            {
                content: "It says until when each company's credential works",
                trigger: `.o_list_view th[data-name='credential_valid_until']${contains(T.credentialValidUntil)}`,
            },
            {
                content: "Its connection and credential are shown",
                trigger: `.o_list_view .o_data_row${contains(CLIENT)} .o_data_cell[name='auth_method']${contains(T.certificate)}`,
            },
            {
                content: "A company not allowed to the user is not there",
                trigger: `.o_list_view:not(:has(.o_data_row${contains(OTHER)}))`,
            },
            {
                content: "Open the company's KSeF settings",
                trigger: `.o_list_view .o_data_row${contains(CLIENT)} button[name='action_open_settings']`,
                run: "click",
            },
            {
                content: "The settings of that company are open",
                trigger: `.o_form_view .oe_title${contains(CLIENT)}`,
            },
            {
                content: "with its connection",
                trigger: `.o_form_view .o_field_widget[name='auth_method']${contains(T.certificate)}`,
            },
            {
                content: "Back to the cockpit",
                trigger: `.o_breadcrumb .o_back_button, .o_breadcrumb a${contains(T.cockpit)}`,
                run: "click",
            },
            {
                content: "Switch to the kanban view",
                trigger: ".o_switch_view.o_kanban",
                run: "click",
            },
            {
                content: "The company's card offers its queue",
                trigger: `.o_kanban_record${contains(CLIENT)} button[name='action_open_queue']${contains(T.queue)}`,
                run: "click",
            },
            {
                content: "The company's queue opens (empty)",
                trigger: `.o_breadcrumb${contains(T.queueOf)}`,
            },
        ];
    },
});
