/** Tour of l10n_pl_ksef: a manager renews the company's KSeF authentication certificate, then its
 * offline certificate, from the KSeF settings (tests/test_auth_renewal.py, in English and in
 * Polish). */
import { registry } from "@web/core/registry";
import { user } from "@web/core/user";

function say(en, pl) {
    return user.context.lang === "pl_PL" ? pl : en;
}

registry.category("web_tour.tours").add("l10n_pl_ksef_renew_auth_certificate", {
    steps: () => [
        {
            content: "The settings of a company connected with a KSeF certificate offer the renewal",
            // in the authentication certificate's own section, labelled in the user's language
            trigger: `.o_form_view .o_inner_group button[name='action_l10n_pl_ksef_renew_auth_certificate']:contains('${say("Renew authentication certificate", "Odnów certyfikat uwierzytelniający")}')`,
            run: "click",
        },
        {
            content: "Odoo says the certificate was renewed",
            trigger: `.o_notification:contains('${say("The authentication certificate was renewed", "Certyfikat uwierzytelniający został odnowiony")}')`,
        },
        {
            content: "The chatter keeps the old and the new serial",
            trigger: `.o-mail-Message:contains('${say("KSeF authentication certificate renewed", "Certyfikat uwierzytelniający KSeF odnowiony")}')`,
        },
        {
            content: "The settings of a company with an offline certificate offer its renewal",
            // in the offline certificate's own section, labelled in the user's language
            trigger: `.o_form_view .o_inner_group button[name='action_l10n_pl_ksef_renew_offline_certificate']:contains('${say("Renew offline certificate", "Odnów certyfikat offline")}')`,
            run: "click",
        },
        {
            content: "Odoo says the offline certificate was renewed",
            trigger: `.o_notification:contains('${say("The offline certificate was renewed", "Certyfikat offline został odnowiony")}')`,
        },
        {
            content: "The chatter keeps the old and the new serial of the offline certificate",
            trigger: `.o-mail-Message:contains('${say("KSeF offline certificate renewed", "Certyfikat offline KSeF odnowiony")}')`,
        },
    ],
});
