/**
 * Tours of l10n_pl_ksef: connecting a company (token, certificate, wrong token, wrong key
 * password), the offline certificate (upload, request from KSeF), outages and disconnecting,
 * walked as a user meets them (README.md, "Using it").
 *
 * One tour runs in English and in Polish (tests/test_tours_connect.py): the steps find fields
 * and buttons by their names, and the messages the user must read are looked for in the
 * user's language (TEXTS below).
 */
import { registry } from "@web/core/registry";
import { rpc } from "@web/core/network/rpc";
import { user } from "@web/core/user";
import { stepUtils } from "@web_tour/tour_utils";

const NIP = "5265877635"; // tests/common.py TEST_NIP

/** What the user must read, in each language (the Polish of i18n/pl.po). */
const TEXTS = {
    en: {
        notAToken: "This is not a KSeF token",
        otherNip: "This KSeF token was generated for NIP 1234563218",
        tokenRefused: "The KSeF token is invalid, revoked or belongs to another company",
        connectedToken: `with a token for NIP ${NIP}`,
        connectedCertificate: `with the certificate`,
        wrongPassword: "The private key's password is wrong",
        offlineStored: "The offline certificate",
        offlineStoredEnd: "is stored",
        emergency: "KSeF failure (emergency mode)",
        connectedEmulator: "Connected to the local KSeF emulator",
        noLegalEffect: "Nothing sent there has any legal effect",
    },
    pl: {
        notAToken: "To nie jest token KSeF",
        otherNip: "Ten token KSeF wygenerowano dla NIP 1234563218",
        tokenRefused: "Token KSeF jest nieprawidłowy, unieważniony lub należy do innej firmy",
        connectedToken: `tokenem dla NIP ${NIP}`,
        connectedCertificate: `certyfikatem`,
        wrongPassword: "Hasło klucza prywatnego jest nieprawidłowe",
        offlineStored: "Certyfikat offline",
        offlineStoredEnd: "został zapisany",
        emergency: "Awaria KSeF (tryb awaryjny)",
        connectedEmulator: "Połączono z lokalnym emulatorem KSeF",
        noLegalEffect: "nie ma skutków prawnych",
    },
};

function texts() {
    return (user.lang || "").startsWith("pl") ? TEXTS.pl : TEXTS.en;
}

/** The credentials the test prepared for this user (tests/test_tours_connect.py). */
async function tourData() {
    const [attachment] = await rpc("/web/dataset/call_kw/ir.attachment/search_read", {
        model: "ir.attachment",
        method: "search_read",
        args: [[["name", "=", "l10n_pl_ksef_tour_connect.json"]], ["datas"]],
        kwargs: {},
    });
    const raw = Uint8Array.from(atob(attachment.datas), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(raw));
}

/* --- small building blocks ----------------------------------------------------------------- */

/** From the apps menu: Invoicing > Configuration > ``menu`` (found by its XML id). */
function openFromTheConfigurationMenu(menu) {
    return [
        ...stepUtils.goToAppSteps("account.menu_finance", "Open Invoicing"),
        {
            content: "Invoicing > Configuration",
            trigger: ".o_main_navbar [data-menu-xmlid='account.menu_finance_configuration']",
            run: "click",
        },
        {
            content: `Configuration > ${menu}`,
            trigger: `.dropdown-menu [data-menu-xmlid='l10n_pl_ksef.${menu}']`,
            run: "click",
        },
    ];
}

function openKsefSettingsFromTheMenu() {
    return [
        ...openFromTheConfigurationMenu("menu_l10n_pl_ksef_config"),
        {
            content: "Open the company's KSeF settings",
            trigger: ".o_list_view .o_data_row .o_data_cell[name='nip']",
            run: "click",
        },
    ];
}

function stateIs(state) {
    return {
        content: `The KSeF settings say: ${state} (and offer no "Connection problem" step)`,
        trigger: `.o_form_view .o_statusbar_status:not(:has(button[data-value='error'])) button.o_arrow_button_current[data-value='${state}']`,
    };
}

function openTheWizard(button = "action_l10n_pl_ksef_open_connect_wizard") {
    return {
        content: "Open the connect wizard",
        trigger: `.o_form_view .o_form_statusbar button[name='${button}']`,
        run: "click",
    };
}

function chooseRadio(field, value) {
    return {
        content: `Choose ${field} = ${value}`,
        trigger: `.modal .o_field_widget[name='${field}'] input[data-value='${value}']`,
        run: "click",
    };
}

function typeInto(field, key) {
    return {
        content: `Type the ${key} into ${field}`,
        trigger: `.modal .o_field_widget[name='${field}'] input`,
        run: async function (helpers) {
            const data = await tourData();
            await helpers.edit(data[key]);
        },
    };
}

/** Give a file to a binary field's file input, as the file dialog would. */
function uploadFile(field, key, filename) {
    return [
        {
            content: `Upload ${filename}`,
            trigger: `.modal .o_field_widget[name='${field}']`,
            run: async function () {
                const data = await tourData();
                const file = new File([data[key]], filename, { type: "application/octet-stream" });
                const input = this.anchor.querySelector("input.o_input_file");
                const transfer = new DataTransfer();
                transfer.items.add(file);
                input.files = transfer.files;
                input.dispatchEvent(new Event("change", { bubbles: true }));
            },
        },
        {
            content: `${filename} is there`,
            trigger: `.modal .o_field_widget[name='${field}'] input.o_input:value(${filename})`,
        },
    ];
}

function click(button, content) {
    return {
        content,
        trigger: `.modal .modal-footer button[name='${button}']:enabled`,
        run: "click",
    };
}

/** KSeF (or Odoo before it) refused: the user reads why, closes the message, and is back in
 * the wizard with everything entered still there. */
function refusedWith(text) {
    return [
        {
            content: `The user reads why: ${text}`,
            trigger: `.modal .o_error_dialog:contains(${JSON.stringify(text)})`,
        },
        {
            content: "Close the message",
            trigger: ".modal .o_error_dialog .modal-footer button.btn-primary",
            run: "click",
        },
        {
            content: "Back in the wizard, nothing lost",
            trigger: "body:not(:has(.o_error_dialog)) .modal .o_field_widget[name='environment'] input[data-value='test']:checked",
        },
    ];
}

function resultSays(...parts) {
    return {
        content: `The wizard says: ${parts.join(" ... ")}`,
        trigger: `.modal .o_field_widget[name='result_message']${parts
            .map((p) => `:contains(${JSON.stringify(p)})`)
            .join("")}`,
    };
}

function closeTheWizard() {
    return [
        {
            content: "Close the wizard",
            trigger: ".modal .modal-footer button[special='cancel']",
            run: "click",
        },
        {
            content: "The wizard is closed",
            trigger: "body:not(:has(.modal))",
        },
    ];
}

/* --- 1: evaluation: connect to the local emulator (no KSeF account needed) ---------------- */
registry.category("web_tour.tours").add("l10n_pl_ksef_connect_local_emulator", {
    steps: () => {
        const T = texts();
        return [
            stateIs("not_connected"),
            openTheWizard(),
            chooseRadio("environment", "emulator"),
            {
                content: "No token or certificate is asked for",
                trigger: ".modal:not(:has(.o_field_widget[name='token'])):not(:has(.o_field_widget[name='auth_cert_file']))",
            },
            {
                content: "Use the local KSeF emulator",
                trigger: ".modal button[name='action_l10n_pl_ksef_use_emulator']",
                run: "click",
            },
            resultSays(T.connectedEmulator, NIP, T.noLegalEffect),
            ...closeTheWizard(),
            stateIs("connected"),
        ];
    },
});

/* --- 1 + 3: connect with a KSeF token, after a malformed, a foreign and a refused token ---- */
registry.category("web_tour.tours").add("l10n_pl_ksef_connect_token", {
    steps: () => {
        const T = texts();
        return [
            ...openKsefSettingsFromTheMenu(),
            stateIs("not_connected"),
            openTheWizard(),
            chooseRadio("environment", "test"),
            chooseRadio("auth_method", "token"),
            // a piece of the token only: refused before contacting KSeF
            typeInto("token", "token_cut"),
            click("action_l10n_pl_ksef_connect", "Connect"),
            ...refusedWith(T.notAToken),
            // a token of another company: refused before contacting KSeF, both NIPs named
            typeInto("token", "token_other_nip"),
            click("action_l10n_pl_ksef_connect", "Connect"),
            ...refusedWith(T.otherNip),
            // well formed, but KSeF does not know it (revoked)
            typeInto("token", "token_revoked"),
            click("action_l10n_pl_ksef_connect", "Connect"),
            ...refusedWith(T.tokenRefused),
            // the right one
            typeInto("token", "token"),
            click("action_l10n_pl_ksef_connect", "Connect"),
            resultSays(T.connectedToken),
            {
                content: "The optional offline certificate step follows; nothing to save before a " +
                    "certificate is uploaded",
                trigger: ".modal:has(.o_field_widget[name='offline_source']) .modal-footer:not(:has(button[name='action_l10n_pl_ksef_save_offline']))",
            },
            ...closeTheWizard(),
            stateIs("connected"),
            {
                content: "The settings show the token",
                trigger: ".o_form_view .o_field_widget[name='has_token'] input:checked",
            },
        ];
    },
});

/* --- 2 + 4 + 5b: connect with a KSeF certificate after a wrong key password, then let KSeF
 * issue the offline certificate ---------------------------------------------------------- */
registry.category("web_tour.tours").add("l10n_pl_ksef_connect_certificate", {
    steps: () => {
        const T = texts();
        return [
            stateIs("not_connected"),
            openTheWizard(),
            chooseRadio("environment", "test"),
            chooseRadio("auth_method", "certificate"),
            ...uploadFile("auth_cert_file", "auth_cert", "ksef.crt"),
            ...uploadFile("auth_key_file", "auth_key", "ksef.key"),
            typeInto("auth_key_password", "wrong_password"),
            click("action_l10n_pl_ksef_connect", "Connect"),
            ...refusedWith(T.wrongPassword),
            {
                content: "The uploaded certificate is still there",
                trigger: ".modal .o_field_widget[name='auth_cert_file'] input.o_input:value(ksef.crt)",
            },
            // the key was kept (encrypted): only the password is typed again
            typeInto("auth_key_password", "key_password"),
            click("action_l10n_pl_ksef_connect", "Connect"),
            resultSays(T.connectedCertificate, NIP),
            chooseRadio("offline_source", "generate"),
            {
                content: "Name the offline certificate",
                trigger: ".modal .o_field_widget[name='offline_cert_name'] input",
                run: "edit Odoo offline tour",
            },
            {
                content: "Request the offline certificate from KSeF",
                trigger: ".modal .modal-footer button[name='action_l10n_pl_ksef_save_offline'].btn-primary",
                run: "click",
            },
            resultSays(T.offlineStored, T.offlineStoredEnd),
            ...closeTheWizard(),
            stateIs("connected"),
            {
                content: "The certificate's holder is shown as the user knows it",
                trigger: `.o_form_view .o_field_widget[name='auth_cert_subject']:contains("NIP ${NIP}")`,
            },
            {
                content: "The offline certificate is shown, valid",
                trigger: ".o_form_view .o_field_widget[name='offline_cert_serial']:not(:empty)",
            },
        ];
    },
});

/* --- 5a: upload an offline certificate obtained in the KSeF application -------------------- */
registry.category("web_tour.tours").add("l10n_pl_ksef_offline_certificate_upload", {
    steps: () => {
        const T = texts();
        return [
            stateIs("connected"),
            openTheWizard("action_l10n_pl_ksef_open_offline_wizard"),
            chooseRadio("offline_source", "upload"),
            ...uploadFile("offline_cert_file", "offline_cert", "offline.crt"),
            ...uploadFile("offline_key_file", "offline_key", "offline.key"),
            typeInto("offline_key_password", "key_password"),
            {
                content: "Save the offline certificate",
                trigger: ".modal .modal-footer button[name='action_l10n_pl_ksef_save_offline'].btn-primary",
                run: "click",
            },
            resultSays(T.offlineStored, T.offlineStoredEnd),
            ...closeTheWizard(),
            {
                content: "The offline certificate is shown",
                trigger: ".o_form_view .o_field_widget[name='offline_cert_serial']:not(:empty)",
            },
        ];
    },
});

/* --- 6: record a failure announced by the ministry and its end; end the unavailability Odoo
 * recorded, during which an invoice was issued offline -------------------------------------- */
registry.category("web_tour.tours").add("l10n_pl_ksef_record_outage", {
    steps: () => {
        const T = texts();
        return [
            ...openFromTheConfigurationMenu("menu_l10n_pl_ksef_outage"),
            {
                content: "The list of KSeF outages is open",
                trigger: ".o_list_view th[data-name='automatic']",
            },
            {
                content: "Record a new outage",
                trigger: ".o_control_panel .o_list_button_add",
                run: "click",
            },
            {
                content: "Open the kinds of outage",
                trigger: ".o_form_view .o_field_widget[name='kind'] .o_select_menu_toggler",
                run: "click",
            },
            {
                content: "A failure announced by the ministry (emergency mode)",
                trigger: `.o_select_menu_item:contains(${JSON.stringify(T.emergency)})`,
                run: "click",
            },
            {
                content: "Note where it was announced",
                trigger: ".o_form_view .o_field_widget[name='note'] textarea",
                run: "edit BIP MF tour",
            },
            {
                content: "Save",
                trigger: ".o_form_view .o_form_button_save",
                run: "click",
            },
            {
                content: "The ministry announces the end: Ended now",
                trigger: ".o_form_view .o_form_statusbar button[name='action_l10n_pl_ksef_end_now']",
                run: "click",
            },
            {
                content: "The end is recorded: the outage is no longer ongoing",
                trigger: ".o_form_view .o_form_statusbar:not(:has(button[name='action_l10n_pl_ksef_end_now']))",
            },
            {
                content: "Back to the list of outages",
                trigger: ".o_breadcrumb .o_back_button, .o_breadcrumb .breadcrumb-item:not(.active) a",
                run: "click",
            },
            {
                content: "The failure is listed with its end",
                trigger: ".o_list_view .o_data_row:has(.o_data_cell[name='note']:contains(BIP MF tour)) .o_data_cell[name='date_end']:not(:empty)",
            },
            {
                content: "Open the unavailability Odoo recorded when KSeF could not be reached",
                trigger: ".o_list_view .o_data_row:has(.o_data_cell[name='automatic'] input:checked) .o_data_cell[name='kind']",
                run: "click",
            },
            {
                content: "An invoice was issued offline during it",
                trigger: ".o_form_view button[name='action_view_moves'] .o_stat_value:contains(1)",
            },
            {
                content: "KSeF works again: Ended now",
                trigger: ".o_form_view .o_form_statusbar button[name='action_l10n_pl_ksef_end_now']",
                run: "click",
            },
            {
                content: "The unavailability is ended",
                trigger: ".o_form_view .o_form_statusbar:not(:has(button[name='action_l10n_pl_ksef_end_now']))",
            },
            {
                content: "See the invoices issued during it",
                trigger: ".o_form_view button[name='action_view_moves']",
                run: "click",
            },
            {
                content: "The invoice issued offline is listed",
                trigger: ".o_list_view .o_data_row:count(1)",
            },
        ];
    },
});

/* --- 7: disconnect ------------------------------------------------------------------------- */
registry.category("web_tour.tours").add("l10n_pl_ksef_disconnect", {
    steps: () => [
        stateIs("connected"),
        {
            content: "Disconnect",
            trigger: ".o_form_view .o_form_statusbar button[name='action_l10n_pl_ksef_disconnect']",
            run: "click",
        },
        {
            content: "Confirm: the stored token, certificate and keys are removed",
            trigger: ".modal .modal-footer button.btn-primary",
            run: "click",
        },
        stateIs("not_connected"),
        {
            content: "Connect to KSeF is offered again",
            trigger: ".o_form_view .o_form_statusbar button[name='action_l10n_pl_ksef_open_connect_wizard'].btn-primary",
        },
    ],
});
