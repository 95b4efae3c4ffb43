/** Tour: an FA(3) file uploaded on the vendor bills list (Odoo's Upload button) becomes a bill. */
import { registry } from "@web/core/registry";
import { rpc } from "@web/core/network/rpc";

registry.category("web_tour.tours").add("l10n_pl_ksef_upload_fa3_on_bills_list", {
    steps: () => [
        {
            content: "Upload on the vendor bills list: the FA(3) file received from a vendor, " +
                "given to Odoo's file input as the file dialog would",
            trigger: ".o_control_panel button:contains('Upload')",
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
            content: "Odoo opens the new bill, read from the FA(3) file",
            trigger: ".o-mail-Message:contains('read as invoice')",
        },
        {
            content: "The bill has its lines",
            trigger: ".o_form_view .o_field_widget[name='invoice_line_ids'] .o_data_row",
        },
    ],
});
