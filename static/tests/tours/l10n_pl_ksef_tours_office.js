/**
 * Tour of l10n_pl_ksef (issue 12): a client company connected through its accounting office.
 *
 * It runs in English and in Polish (tests/test_office.py TestKsefOfficeTour and
 * TestKsefOfficeTourPolish): every label, button and message the user must read is looked for
 * in the user's language (TEXTS below), so a text left in English fails the Polish tour.
 */
import { registry } from "@web/core/registry";
import { user } from "@web/core/user";

const OFFICE_NIP = "7251801126"; // tests/test_office.py OFFICE_NIP

/** What the user must read, in each language (the Polish of i18n/pl.po). */
const TEXTS = {
    en: {
        notConnected: "Not connected",
        connectToKsef: "Connect to KSeF",
        localEmulator: "Local emulator",
        throughOffice: "Through the accounting office",
        grantAlert: "the client gives the office's NIP",
        kodII: "KOD II carries the seller's context",
        connect: "Connect",
        connectedThroughOffice: "through the accounting office Biuro Rachunkowe Liczydło",
        officeCertificate: "with the office's certificate in this company's context",
        close: "Close",
        connected: "Connected",
    },
    pl: {
        notConnected: "Nie połączono",
        connectToKsef: "Połącz z KSeF",
        localEmulator: "Lokalny emulator",
        throughOffice: "Przez biuro rachunkowe",
        grantAlert: "klient nadaje NIP-owi biura",
        kodII: "KOD II zawiera kontekst sprzedawcy",
        connect: "Połącz",
        connectedThroughOffice: "przez biuro rachunkowe Biuro Rachunkowe Liczydło",
        officeCertificate: "certyfikatem biura w kontekście tej firmy",
        close: "Zamknij",
        connected: "Połączono",
    },
};

function texts() {
    return (user.lang || "").startsWith("pl") ? TEXTS.pl : TEXTS.en;
}

function contains(text) {
    return `:contains(${JSON.stringify(text)})`;
}

registry.category("web_tour.tours").add("l10n_pl_ksef_connect_office", {
    steps: () => {
        const T = texts();
        return [
            {
                content: "The company's KSeF settings are not connected yet",
                trigger: `.o_form_view .o_statusbar_status button.o_arrow_button_current[data-value='not_connected']${contains(T.notConnected)}`,
            },
            {
                content: "Open the connect wizard",
                trigger: `.o_form_view .o_form_statusbar button[name='action_l10n_pl_ksef_open_connect_wizard']${contains(T.connectToKsef)}`,
                run: "click",
            },
            {
                content: "Choose the local emulator (where the office's credential is)",
                trigger: `.modal .o_field_widget[name='environment'] .o_radio_item:has(input[data-value='emulator']) label${contains(T.localEmulator)}`,
                run: "click",
            },
            {
                content: "Choose: through the accounting office",
                trigger: `.modal .o_field_widget[name='auth_method'] .o_radio_item:has(input[data-value='office']) label${contains(T.throughOffice)}`,
                run: "click",
            },
            {
                content: "The wizard says what the client grants in KSeF",
                trigger: `.modal .alert${contains(T.grantAlert)}:contains('Aplikacja Podatnika KSeF'):contains('InvoiceWrite')`,
            },
            {
                content: "The wizard says offline invoices need the client's own Offline certificate",
                trigger: `.modal .alert${contains(T.kodII)}`,
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
                trigger: `.modal .modal-footer button[name='action_l10n_pl_ksef_connect']${contains(T.connect)}:enabled`,
                run: "click",
            },
            {
                content: "The wizard says it is connected through the office, with the office's certificate",
                trigger: `.modal .o_field_widget[name='result_message']${contains(T.connectedThroughOffice)}${contains(OFFICE_NIP)}${contains(T.officeCertificate)}`,
            },
            {
                content: "Close the wizard",
                trigger: `.modal .modal-footer button[special='cancel']${contains(T.close)}`,
                run: "click",
            },
            {
                content: "The settings show the connection through the office",
                trigger: `.o_form_view .o_field_widget[name='auth_method']${contains(T.throughOffice)}`,
            },
            {
                content: "and that it is connected",
                trigger: `.o_form_view .o_statusbar_status button.o_arrow_button_current[data-value='connected']${contains(T.connected)}`,
            },
        ];
    },
});
