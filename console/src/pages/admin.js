// Admin and partner pages about partners and merchants: the partners (admins create them), a
// partner's merchants (onboarding a shop from a phone), binding verification, the callback log and
// the audit.
import { current, get, post } from "../api.js";
import { append, field, formValues, h, replace, select } from "../dom.js";
import { time } from "../format.js";
import { t } from "../i18n.js";
import { badge, form, notice, pagedList, section, seg, table } from "../ui.js";
import { callbackList } from "./merchant.js";

export async function partnersPage(view) {
  const list = h("div", {});
  const show = () => replace(list, pagedList([
    [t("partners.name"), (p) => h("a", { href: `#/partners/${seg(p.partner_id)}` }, p.name)],
    [t("partners.id"), (p) => h("code", {}, p.partner_id)],
    [t("common.created_at"), (p) => time(p.created_at)],
  ], async (cursor) => {
    const page = await get("/v1/partners", { limit: 50, cursor });
    return { rows: page.partners, next: page.next_cursor };
  }, { empty: t("partners.none") }));
  replace(view, h("h1", {}, t("nav.partners")), section(t("nav.partners"), list),
    section(t("partners.new"), form([
      field(t("partners.name"), h("input", { name: "name", required: true, maxlength: 100 })),
    ], t("partners.create"), async (el) => {
      const created = await post("/v1/partners", formValues(el));
      window.location.hash = `#/partners/${seg(created.partner_id)}`;
    })));
  show();
}

export async function partnerPage(view, { id }) {
  const partnerId = id || current().partnerId;
  const partner = await get(`/v1/partners/${seg(partnerId)}`);
  const list = h("div", {});
  const show = () => replace(list, pagedList([
    [t("merchants.name"), (m) => h("a", { href: `#/merchants/${seg(m.merchant_id)}/dashboard` }, m.name)],
    [t("merchants.category"), (m) => t(`category.${m.category}`, null, m.category)],
    [t("merchants.city"), (m) => m.city || "—"],
    [t("common.created_at"), (m) => time(m.created_at)],
  ], async (cursor) => {
    const page = await get(`/v1/partners/${seg(partnerId)}/merchants`, { limit: 50, cursor });
    return { rows: page.merchants, next: page.next_cursor };
  }, { empty: t("merchants.none") }));
  replace(view, h("header", { class: "page-head" }, h("h1", {}, partner.name),
    h("p", { class: "sub" }, t("partners.since", { at: time(partner.created_at) }))),
  section(t("nav.merchants"), list), section(t("merchants.new"), onboardForm(partnerId)));
  show();
}

function onboardForm(partnerId) {
  return form([
    field(t("merchants.name"), h("input", { name: "name", required: true, maxlength: 100 })),
    field(t("merchants.category"), select("category", ["retail", "restaurant", "services", "other"]
      .map((c) => [c, t(`category.${c}`)]), "restaurant")),
    field(t("merchants.city"), h("input", { name: "city", maxlength: 100 })),
    field(t("merchants.store_name"), h("input", { name: "store_name", required: true, maxlength: 100 })),
    field(t("merchants.store_address"), h("input", { name: "store_address", maxlength: 200 })),
    field(t("merchants.seller_id"), h("input", { name: "alipay_seller_id", inputmode: "numeric", maxlength: 32 }),
      t("merchants.seller_id_hint")),
  ], t("merchants.create"), async (el) => {
    const v = formValues(el);
    const body = { name: v.name, category: v.category, stores: [{ name: v.store_name }] };
    if (v.store_address) body.stores[0].address = v.store_address;
    if (v.city) body.city = v.city;
    if (v.alipay_seller_id) body.alipay_seller_id = v.alipay_seller_id;
    const created = await post(`/v1/partners/${seg(partnerId)}/merchants`, body);
    window.location.hash = `#/merchants/${seg(created.merchant_id)}/terminals`;
  }, { id: "onboard-merchant" });
}

export async function bindingsPage(view) {
  replace(view, h("h1", {}, t("nav.bindings")), section(t("nav.bindings"),
    h("p", { class: "hint" }, t("bindings.find_explain")),
    form([field(t("bindings.merchant_id"), h("input", { name: "merchant_id", required: true, maxlength: 128 }))],
      t("bindings.open"), async (el) => {
        const id = formValues(el).merchant_id;
        await get(`/v1/merchants/${seg(id)}`); // an unknown id says so here
        window.location.hash = `#/merchants/${seg(id)}/bindings`;
      })));
}

export async function callbacksPage(view) {
  replace(view, h("h1", {}, t("nav.callbacks")), section(t("callbacks.unattributed"),
    h("p", { class: "hint" }, t("callbacks.unattributed_explain")), callbackList(async (cursor) => {
    const page = await get("/v1/admin/callbacks", { limit: 50, cursor });
    return { rows: page.callbacks, next: page.next_cursor };
  })));
}

export async function auditPage(view) {
  const result = await get("/v1/admin/audit");
  replace(view, h("h1", {}, t("nav.audit")),
    notice(result.ok ? t("audit.ok") : t("audit.failed"), result.ok ? "ok" : "error"),
    section(t("audit.checks"), table([
      [t("audit.name"), (c) => c.name], [t("audit.result"), (c) => (c.ok ? badge(t("audit.pass"), "ok") : badge(t("audit.fail"), "error"))],
      [t("audit.detail"), (c) => (typeof c.detail === "string" ? c.detail : JSON.stringify(c.detail))],
    ], result.checks)));

}
