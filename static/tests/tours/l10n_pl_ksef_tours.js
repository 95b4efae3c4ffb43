/** Tours of l10n_pl_ksef: the user paths of README.md, walked in a real browser. */
import { registry } from "@web/core/registry";
import { user } from "@web/core/user";

/** The text the user sees, in the user's language (the Polish of i18n/pl.po). */
function say(en, pl) {
    return user.context.lang === "pl_PL" ? pl : en;
}

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
            trigger: ".modal .modal-footer button[special='cancel']",
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
            trigger: `.o_control_panel button:contains('${say("Import from KSeF now", "Importuj teraz z KSeF")}')`,
            run: "click",
        },
        {
            content: "Odoo says how many bills arrived",
            trigger: `.o_notification:contains('${say("3 new bill(s)", "Nowe faktury zakupu: 3")}')`,
        },
        {
            content: "The imported bills are in the list",
            trigger: ".o_list_view .o_data_row:contains('sp. z o.o.')",
        },
    ],
});

/* --- art. 108g: paying vendor bills carries the KSeF number ------------------------------- */
// the vendors' NIPs of tests/payment_common.py: their KSeF numbers start with them
const ALFA_NIP = "7770001111";
const BETA_NIP = "7770002228";
// the NIP of the test company (tests/common.py TEST_NIP): our KSeF numbers start with it
const SELLER_NIP = "5265877635";

/** ``:contains()`` of a text that may hold quotes. */
function has(text) {
    return `:contains(${JSON.stringify(text)})`;
}

/* The payment and matching tours run in English and in Polish (tests/test_tours.py
 * TestKsefPaymentTours / TestKsefPaymentToursPolish, TestKsefMatchingTour /
 * TestKsefMatchingTourPolish): what the accountant must read is looked for in the user's
 * language, Odoo's own labels included (Odoo's Polish), so a text left in English fails the
 * Polish tour. */
function createPayment(content = "Create the payment") {
    return {
        content,
        trigger: `.modal .modal-footer button[name='action_create_payments']${has(say("Create Payment", "Utwórz płatność"))}:enabled`,
        run: "click",
    };
}

registry.category("web_tour.tours").add("l10n_pl_ksef_pay_one_bill", {
    steps: () => [
        {
            content: "The bill shows its KSeF number",
            trigger: `.o_form_view .o_field_widget[name='l10n_pl_ksef_number']:contains('${ALFA_NIP}-')`,
        },
        {
            content: "under its name",
            trigger: `.o_form_view .o_form_label[for^='l10n_pl_ksef_number']${has(say("KSeF number", "Numer KSeF"))}`,
        },
        {
            content: "Pay the bill",
            trigger: ".o_form_view button#account_invoice_payment_btn",
            run: "click",
        },
        {
            content: "The memo of the payment is the bill's KSeF number",
            trigger: `.modal .o_field_widget[name='communication'] input:value(${ALFA_NIP}-)`,
        },
        createPayment(),
        {
            content: "The bill is paid",
            trigger: `.o_form_view .ribbon${has(say("In Payment", "W trakcie płatności"))}, ` +
                `.o_form_view .ribbon${has(say("Paid", "Zapłacona"))}`,
        },
    ],
});

function selectAllBillsAndPay() {
    return [
        {
            content: "Select every bill of the list",
            trigger: ".o_list_view thead .o_list_record_selector input",
            run: "click",
        },
        {
            content: "Pay the selected bills",
            trigger: ".o_control_panel button[name='action_force_register_payment']",
            run: "click",
        },
        {
            content: "Group the bills in one payment",
            trigger: ".modal .o_field_widget[name='group_payment'] input",
            run: "click",
        },
    ];
}

registry.category("web_tour.tours").add("l10n_pl_ksef_pay_bills_grouped", {
    steps: () => [
        ...selectAllBillsAndPay(),
        {
            content: "Odoo says KSeF will give a collective identifier for the memo",
            trigger: ".modal .o_field_widget[name='l10n_pl_ksef_memo_info']" + has(say(
                "2 KSeF bills of Dostawca Beta S.A. in one payment: KSeF will be asked for a collective identifier",
                "Faktury KSeF od Dostawca Beta S.A. w jednej płatności (liczba faktur: 2): przy tworzeniu " +
                "płatności Odoo poprosi KSeF o identyfikator zbiorczy")),
        },
        createPayment("Create the one payment"),
        {
            content: "The payment shows the collective identifier KSeF gave",
            trigger: `.o_form_view .o_field_widget[name='l10n_pl_ksef_collective_number']:contains('${BETA_NIP}-IZ')`,
        },
        {
            content: "under its name",
            trigger: ".o_form_view .o_form_label[for^='l10n_pl_ksef_collective_number']" +
                has(say("KSeF collective identifier", "Identyfikator zbiorczy KSeF")),
        },
        {
            content: "The memo is the collective identifier",
            trigger: `.o_form_view .o_field_widget[name='memo'] input:value(${BETA_NIP}-IZ)`,
        },
        {
            content: "The payment's chatter says what the collective identifier is",
            trigger: ".o-mail-Message" + has(say(
                "KSeF collective identifier for the bills paid by this transfer (its memo):",
                "Identyfikator zbiorczy KSeF faktur opłaconych tym przelewem (jego tytuł):")) +
                `:contains('${BETA_NIP}-IZ')` +
                // each bill with the amount paid, in the reader's number format
                has(say("300.00 PLN", "300,00 PLN")) + has(say("301.00 PLN", "301,00 PLN")),
        },
    ],
});

registry.category("web_tour.tours").add("l10n_pl_ksef_pay_bills_refused_then_separately", {
    steps: () => [
        ...selectAllBillsAndPay(),
        createPayment(),
        {
            content: "Odoo explains that no payment was created, and why",
            trigger: ".modal .alert-danger" +
                has(say("KSeF refused a collective identifier", "KSeF odmówił nadania identyfikatora zbiorczego")) +
                has(say("different sellers", "różni sprzedawcy")) +
                has(say("No payment was created", "Nie utworzono żadnej płatności")),
        },
        {
            content: "in the payment wizard, opened again",
            trigger: `.modal .modal-title${has(say("Pay", "Zapłać"))}`,
        },
        {
            content: "Pay the bills separately, each with its own KSeF number",
            trigger: ".modal .modal-footer button[name='action_l10n_pl_ksef_pay_separately']" +
                has(say("Pay the bills separately", "Zapłać faktury osobno")),
            run: "click",
        },
        {
            content: "Two payments were created",
            trigger: ".o_list_view .o_data_row:count(2)",
        },
    ],
});

/* --- receiving: a bank statement line naming a KSeF number is matched --------------------- */
registry.category("web_tour.tours").add("l10n_pl_ksef_match_statement_line", {
    steps: () => [
        {
            content: "The list of bank statement lines is open",
            trigger: `.o_breadcrumb${has(say("Bank statement lines", "Pozycje wyciągów bankowych"))}`,
        },
        {
            content: "The unreconciled statement line is listed",
            trigger: ".o_list_view .o_data_row:contains('Przelew za fakture')",
        },
        {
            content: "Select it",
            trigger: ".o_list_view .o_data_row:contains('Przelew za fakture') .o_list_record_selector input",
            run: "click",
        },
        {
            content: "Match it with KSeF invoices",
            trigger: `.o_control_panel button${has(say("Match with KSeF invoices", "Dopasuj do faktur KSeF"))}`,
            run: "click",
        },
        {
            content: "Odoo says the line is matched with the invoice",
            trigger: ".o_notification" +
                has(say("1 of 1 statement lines matched", "dopasowano 1 z 1 pozycji wyciągu")) +
                has(say("Matched with", "Dopasowano do:")),
        },
        {
            content: "The reconciled line leaves the list of lines to reconcile",
            trigger: ".o_list_view:not(:has(.o_data_row:contains('Przelew za fakture')))",
        },
    ],
});

/* --- sending an invoice from its own button ---------------------------------------------- */
registry.category("web_tour.tours").add("l10n_pl_ksef_send_invoice_button", {
    steps: () => [
        {
            content: "A confirmed invoice not sent yet says so",
            trigger: `.o_form_view .o_field_widget[name='l10n_pl_ksef_status']:contains('${say("Not sent", "Nie wysłano")}')`,
        },
        {
            content: "Send it to KSeF",
            trigger: ".o_form_view .o_statusbar_buttons button[name='action_l10n_pl_ksef_send']",
            run: "click",
        },
        {
            content: "KSeF accepted it",
            trigger: `.o_form_view .o_field_widget[name='l10n_pl_ksef_status']:contains('${say("Accepted", "Przyjęta")}')`,
        },
        {
            content: "The KSeF number is on the invoice",
            trigger: `.o_form_view .o_field_widget[name='l10n_pl_ksef_number']:contains('${SELLER_NIP}-')`,
        },
        {
            content: "The send button is gone (never twice)",
            trigger: ".o_form_view .o_statusbar_buttons:not(:has(button[name='action_l10n_pl_ksef_send']))",
        },
    ],
});
