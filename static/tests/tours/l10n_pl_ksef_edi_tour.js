/**
 * Tour: an FA(3) file uploaded on the vendor bills list (Odoo's Upload button) becomes a bill.
 *
 * It runs in English and in Polish (tests/test_edi_door.py TestKsefEdiDoorTour and
 * TestKsefEdiDoorTourPolish): the button and the message the accountant must read are looked
 * for in the user's language (TEXTS below), so a text left in English fails the Polish tour.
 */
import { registry } from "@web/core/registry";
import { rpc } from "@web/core/network/rpc";
import { user } from "@web/core/user";

/** What the user must read, in each language (Odoo's Polish and that of i18n/pl.po). */
const TEXTS = {
    en: {
        upload: "Upload",
        readAs: "FA(3) file faktura-od-dostawcy.xml read as invoice",
        numberNotKnown: "Its KSeF number is not known yet: the KSeF import will add it to this bill",
    },
    pl: {
        upload: "Prześlij",
        readAs: "Plik FA(3) faktura-od-dostawcy.xml odczytany jako faktura",
        numberNotKnown: "Jej numer KSeF nie jest jeszcze znany: import z KSeF dopisze go do tej faktury",
    },
};

function texts() {
    return (user.lang || "").startsWith("pl") ? TEXTS.pl : TEXTS.en;
}

function contains(text) {
    return `:contains(${JSON.stringify(text)})`;
}

registry.category("web_tour.tours").add("l10n_pl_ksef_upload_fa3_on_bills_list", {
    steps: () => {
        const T = texts();
        return [
            {
                content: "Upload on the vendor bills list: the FA(3) file received from a vendor, " +
                    "given to Odoo's file input as the file dialog would",
                trigger: `.o_control_panel button${contains(T.upload)}`,
                run: async () => {
                    // the file the test left for this user (tests/test_edi_door.py)
                    const [attachment] = await rpc("/web/dataset/call_kw/ir.attachment/search_read", {
                        model: "ir.attachment",
                        method: "search_read",
                        args: [[["name", "=", "l10n_pl_ksef_tour_fa3.xml"]], ["datas"]],
                        kwargs: {},
                    });
                    const raw = Uint8Array.from(atob(attachment.datas), (c) => c.charCodeAt(0));
                    const file = new File([raw], "faktura-od-dostawcy.xml", { type: "application/xml" });
                    const input = document.querySelector("input.o_input_file.document_file_uploader");
                    const transfer = new DataTransfer();
                    transfer.items.add(file);
                    input.files = transfer.files;
                    input.dispatchEvent(new Event("change", { bubbles: true }));
                },
            },
            {
                content: "Odoo opens the new bill, read from the FA(3) file; its KSeF number comes later",
                trigger: `.o-mail-Message${contains(T.readAs)}${contains(T.numberNotKnown)}`,
            },
            {
                content: "The bill has its lines",
                trigger: ".o_form_view .o_field_widget[name='invoice_line_ids'] .o_data_row",
            },
        ];
    },
});
