/** Tours of l10n_pl_ksef: sending, the queue cron, credit notes, offline issuing and printing,
 * importing from the purchase journal's card and the FA(3) visualisation, as README.md describes
 * them. One tour runs for an English and for a Polish user (tests/test_tours_invoices.py): it
 * finds fields and buttons by their names and reads what the user sees in the user's language. */
import { registry } from "@web/core/registry";
import { download } from "@web/core/network/download";
import { user } from "@web/core/user";

// the NIP of the test company (tests/common.py TEST_NIP): our KSeF numbers start with it
const SELLER_NIP = "5265877635";

/** The text the user sees, in the user's language (the Polish of i18n/pl.po). */
function say(en, pl) {
    return user.context.lang === "pl_PL" ? pl : en;
}

const STATUS = "o_form_view .o_field_widget[name='l10n_pl_ksef_status']";

function statusIs(en, pl) {
    return {
        content: `The invoice's KSeF badge says "${en}"`,
        trigger: `.${STATUS}:contains('${say(en, pl)}')`,
    };
}

function acceptedWithNumber() {
    return [
        statusIs("Accepted", "Przyjęta"),
        {
            content: "The KSeF number is on the invoice",
            trigger: `.o_form_view .o_field_widget[name='l10n_pl_ksef_number']:contains('${SELLER_NIP}-')`,
        },
        {
            content: "The chatter says KSeF accepted it, with the number",
            trigger: `.o-mail-Message:contains('${say("Accepted by KSeF", "Przyjęta przez KSeF")}'):contains('${SELLER_NIP}-')`,
        },
    ];
}

/* --- 1. Odoo's Send wizard with the KSeF option ------------------------------------------- */
registry.category("web_tour.tours").add("l10n_pl_ksef_send_wizard", {
    steps: () => [
        statusIs("Not sent", "Nie wysłano"),
        {
            content: "Open Odoo's Send wizard",
            trigger: ".o_form_view .o_statusbar_buttons button[name='action_invoice_sent']",
            run: "click",
        },
        {
            content: "The wizard offers KSeF, in the user's language",
            trigger: `.modal .o_field_widget[name='extra_edi_checkboxes'] label:contains('${say(
                "KSeF (send to the Polish National e-Invoice System)",
                "KSeF (wyślij do Krajowego Systemu e-Faktur)"
            )}')`,
        },
        {
            content: "KSeF is ticked by default",
            trigger: ".modal .o_field_widget[name='extra_edi_checkboxes'] input#l10n_pl_ksef:checked",
        },
        {
            content: "Send",
            trigger: ".modal .modal-footer button[name='action_send_and_print']",
            run: "click",
        },
        ...acceptedWithNumber(),
    ],
});

/* --- 2. the queue cron: confirmed -> queued; the scheduled action sends it ------------------ */
registry.category("web_tour.tours").add("l10n_pl_ksef_confirm_queued", {
    steps: () => [
        {
            content: "Confirm the draft invoice",
            trigger: ".o_form_view .o_statusbar_buttons button[name='action_post']",
            run: "click",
        },
        statusIs("Queued", "W kolejce"),
        {
            content: "It waits in the queue: nothing to click to send it",
            trigger: ".o_form_view .o_statusbar_buttons:not(:has(button[name='action_l10n_pl_ksef_send']))",
        },
    ],
});

registry.category("web_tour.tours").add("l10n_pl_ksef_queue_accepted", {
    steps: () => [
        {
            content: "In the invoices list, the invoice sent by the scheduled action is accepted",
            trigger: `.o_list_view .o_data_row:contains('Odbiorca S.A.') .o_field_widget[name='l10n_pl_ksef_status']:contains('${say("Accepted", "Przyjęta")}')`,
        },
        {
            content: "Open it",
            trigger: ".o_list_view .o_data_row:contains('Odbiorca S.A.') td[name='name']",
            run: "click",
        },
        ...acceptedWithNumber(),
    ],
});

/* --- 3. a credit note (KOR) of an accepted invoice ------------------------------------------ */
registry.category("web_tour.tours").add("l10n_pl_ksef_credit_note", {
    steps: () => [
        statusIs("Accepted", "Przyjęta"),
        {
            content: "An accepted invoice cannot go back to draft: Reset to Draft is not offered",
            trigger: ".o_form_view .o_statusbar_buttons:not(:has(button[name='button_draft']))",
        },
        {
            content: "Issue a credit note",
            trigger: ".o_form_view .o_statusbar_buttons button[name='action_reverse']",
            run: "click",
        },
        {
            content: "Give the reason",
            trigger: ".modal .o_field_widget[name='reason'] input",
            run: "edit Zwrot towaru",
        },
        {
            content: "Create the credit note",
            trigger: ".modal .modal-footer button[name='refund_moves']",
            run: "click",
        },
        {
            content: "The draft credit note opens: confirm it",
            trigger: ".o_form_view .o_statusbar_buttons button[name='action_post']",
            run: "click",
        },
        statusIs("Not sent", "Nie wysłano"),
        {
            content: "Send it to KSeF",
            trigger: ".o_form_view .o_statusbar_buttons button[name='action_l10n_pl_ksef_send']",
            run: "click",
        },
        ...acceptedWithNumber(),
    ],
});

/* --- 4. issuing offline and printing -------------------------------------------------------- */
registry.category("web_tour.tours").add("l10n_pl_ksef_issue_offline_and_print", {
    steps: () => {
        let printed = null;
        return [
            statusIs("Not sent", "Nie wysłano"),
            {
                content: "Issue the invoice offline",
                trigger: ".o_form_view .o_statusbar_buttons button[name='action_l10n_pl_ksef_issue_offline']",
                run: "click",
            },
            {
                content: "Odoo asks to confirm, saying what offline means",
                trigger: `.modal-body:contains('${say(
                    "Issue this invoice in the offline24 mode?",
                    "Wystawić tę fakturę w trybie offline24?"
                )}')`,
            },
            {
                content: "Confirm",
                trigger: ".modal-footer .btn-primary",
                run: "click",
            },
            statusIs("Queued", "W kolejce"),
            {
                content: "The invoice is in the offline24 mode",
                trigger: `.o_form_view .o_field_widget[name='l10n_pl_ksef_mode']:contains('${say(
                    "Offline24 (issued outside KSeF)",
                    "Offline24 (wystawiona poza KSeF)"
                )}')`,
            },
            {
                content: "Odoo says by when it must be in KSeF",
                trigger: `.alert-warning:contains('${say(
                    "Offline invoice: it must be in KSeF by",
                    "Faktura wystawiona offline: musi trafić do KSeF do"
                )}')`,
            },
            {
                content: "Print it: the file Odoo downloads is kept for the next step",
                trigger: ".o_form_view .o_statusbar_buttons button[name='action_print_pdf']",
                run: function () {
                    // the request Print makes (POST /report/download), read instead of saved; in
                    // a test run Odoo answers it with the HTML its PDF engine would get
                    const original = download._download;
                    download._download = async (options) => {
                        download._download = original;
                        const form = new FormData();
                        for (const [key, value] of Object.entries(options.data)) {
                            form.append(key, value);
                        }
                        form.append("csrf_token", odoo.csrf_token);
                        const response = await fetch(options.url, { method: "POST", body: form });
                        printed = { url: JSON.parse(options.data.data)[0], html: await response.text() };
                    };
                    this.anchor.click();
                },
            },
            {
                content: "The printed invoice carries KOD I 'OFFLINE' and KOD II 'CERTYFIKAT'",
                trigger: ".o_form_view",
                run: async () => {
                    for (let i = 0; i < 200 && !printed; i++) {
                        await new Promise((resolve) => setTimeout(resolve, 100));
                    }
                    if (!printed || !printed.url.startsWith("/report/pdf/account.report_invoice")) {
                        throw new Error(`Print downloaded no invoice: ${printed && printed.url}`);
                    }
                    const page = new DOMParser().parseFromString(printed.html, "text/html");
                    const codes = [...page.querySelectorAll("[data-ksef-code]")];
                    const found = codes.map((el) => `${el.dataset.ksefCode}: ${el.textContent}`);
                    const kod1 = codes.find((el) => el.dataset.ksefCode === "KOD I");
                    const kod2 = codes.find((el) => el.dataset.ksefCode === "KOD II");
                    if (!kod1 || !kod1.textContent.includes("OFFLINE") ||
                            !kod2 || !kod2.textContent.includes("CERTYFIKAT")) {
                        throw new Error(`The printed invoice lacks its two QR codes: ${found}`);
                    }
                    if (!kod1.querySelector("img") || !kod2.querySelector("img")) {
                        throw new Error("The QR codes have no image");
                    }
                },
            },
        ];
    },
});

/* --- 5. import from the purchase journal's card on the Accounting dashboard ------------------ */
registry.category("web_tour.tours").add("l10n_pl_ksef_import_from_journal_card", {
    steps: () => [
        {
            content: "The purchase journal's card offers the KSeF import",
            trigger: `.o_kanban_record button.o_l10n_pl_ksef_import_now:contains('${say(
                "Import from KSeF",
                "Importuj z KSeF"
            )}')`,
            run: "click",
        },
        {
            content: "Odoo says how many bills arrived",
            trigger: `.o_notification:contains('${say("3 new bill(s)", "Nowe faktury zakupu: 3")}')`,
        },
        {
            content: "The card counts the new draft bills to validate",
            trigger: ".o_kanban_record #account_dashboard_purchase_draft:contains('3')",
        },
    ],
});

/* --- 6. the FA(3) visualisation of an imported bill ----------------------------------------- */
registry.category("web_tour.tours").add("l10n_pl_ksef_bill_visualisation", {
    steps: () => [
        {
            content: "Open the bill's KSeF visualisation",
            trigger: ".o_form_view .o_statusbar_buttons button[name='action_l10n_pl_ksef_open_visualisation']",
            run: "click",
        },
        {
            content: "The FA(3) invoice is shown with its lines",
            trigger: ":iframe .o_l10n_pl_ksef_visualisation table thead:contains('Ilość')",
        },
        {
            content: "Every cell stands under its heading",
            trigger: ":iframe .o_l10n_pl_ksef_visualisation table:has(thead:contains('Ilość'))",
            run: function () {
                const table = this.anchor;
                const headings = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
                const column = (label) => headings.findIndex((text) => text.startsWith(label));
                const rows = [...table.querySelectorAll("tbody tr")];
                if (!rows.length) {
                    throw new Error("The visualisation shows no line");
                }
                const number = /^-?\d[\d\s]*([.,]\d+)?$/;
                for (const row of rows) {
                    const cells = [...row.children].map((td) => td.textContent.trim());
                    if (cells.length !== headings.length) {
                        throw new Error(`A line has ${cells.length} cells for ${headings.length} headings: ${cells}`);
                    }
                    // the headings as the user's language has them (Polish: Polish only)
                    const amounts = ["Lp.", "Ilość", say("Cena netto", "Cena jedn. netto"), "Wartość netto"];
                    for (const label of amounts) {
                        if (!number.test(cells[column(label)])) {
                            throw new Error(`Under "${label}" stands "${cells[column(label)]}": ${cells}`);
                        }
                    }
                    if (!cells[column("VAT")]) {
                        throw new Error(`The VAT column is empty: ${cells}`);
                    }
                }
            },
        },
        {
            content: "The VAT rates of the totals are named in the user's language",
            trigger: ":iframe .o_l10n_pl_ksef_visualisation table.w-50 tr td",
            run: function () {
                const rows = [...this.anchor.closest("table").querySelectorAll("tr")].slice(0, -1);
                const labels = rows.map((tr) => tr.children[0].textContent.trim());
                const english = /rate|exempt|outside|services|reverse|margin|domestic|export|supply/;
                const ok = user.context.lang === "pl_PL"
                    ? (label) => label && !english.test(label)
                    : (label) => english.test(label);
                if (!labels.length || !labels.every(ok)) {
                    throw new Error(`VAT rate labels not in ${user.context.lang}: ${labels}`);
                }
            },
        },
    ],
});
