/** The office cockpit's "one click into a company": the company becomes the current one (as
 * in the company switcher, the others stay active, no reload), then its records open. A
 * record rule of Odoo shows a company's records only while that company is active. */
import { registry } from "@web/core/registry";
import { user } from "@web/core/user";

async function openInCompany(env, action) {
    const { company_id: companyId, action: next } = action.params;
    const active = user.activeCompanies.map((c) => c.id);
    if (active[0] !== companyId) {
        await user.activateCompanies([companyId, ...active.filter((id) => id !== companyId)], {
            includeChildCompanies: false,
            reload: false,
        });
    }
    return next;
}

registry.category("actions").add("l10n_pl_ksef_open_in_company", openInCompany);
