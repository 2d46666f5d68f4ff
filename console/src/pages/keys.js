// API keys: the keys the signed-in person could create (whoever created them), a new one (its
// secret shown once) and revocation (its tokens stop working within a minute).
import { current, del, get, post } from "../api.js";
import { field, formValues, h, replace, select } from "../dom.js";
import { time } from "../format.js";
import { t } from "../i18n.js";
import { actionButton, badge, confirmDialog, form, pagedList, secretBox, section, seg } from "../ui.js";

function roles(who) {
  if (who.role === "admin") return ["admin", "partner", "merchant"];
  if (who.role === "partner") return ["partner", "merchant"];
  return ["merchant"];
}

export async function keysPage(view) {
  const who = current();
  const list = h("div", {});
  const fresh = h("div", {});
  const show = () => replace(list, pagedList([
    [t("keys.name"), (k) => k.name],
    [t("keys.id"), (k) => h("code", {}, k.key_id)],
    [t("keys.role"), (k) => t(`role.${k.role}`)],
    [t("keys.tenant"), (k) => k.merchant_id || k.partner_id || "—"],
    [t("common.created_at"), (k) => time(k.created_at)],
    [t("keys.state"), (k) => (k.revoked ? badge(t("keys.revoked"), "") : actionButton(t("keys.revoke"), async () => {
      const own = k.key_id === who.keyId;
      if (!(await confirmDialog(t("keys.revoke_title"), t(own ? "keys.revoke_own" : "keys.revoke_body", { name: k.name }), t("keys.revoke")))) return;
      await del(`/v1/api-keys/${seg(k.key_id)}`);
      show();
    }, { class: "danger" }))],
  ], async (cursor) => {
    const page = await get("/v1/api-keys", { limit: 50, cursor });
    return { rows: page.api_keys, next: page.next_cursor };
  }, { empty: t("keys.none") }));
  const tenant = h("input", { name: "tenant", maxlength: 128, placeholder: who.merchantId || who.partnerId || "" });
  const create = form([
    field(t("keys.name"), h("input", { name: "name", required: true, maxlength: 100 })),
    field(t("keys.role"), select("role", roles(who).map((r) => [r, t(`role.${r}`)]), roles(who)[0])),
    who.role === "merchant" ? null : field(t("keys.tenant_id"), tenant, t("keys.tenant_hint")),
  ], t("keys.create"), async (el) => {
    const v = formValues(el);
    const body = { name: v.name, role: v.role };
    if (v.role === "partner" && v.tenant) body.partner_id = v.tenant;
    if (v.role === "merchant" && v.tenant) body.merchant_id = v.tenant;
    const created = await post("/v1/api-keys", body);
    replace(fresh, secretBox(t("keys.created", { name: created.name }), [
      [t("keys.id"), created.key_id], [t("keys.secret"), created.secret]]));
    show();
  }, { id: "create-key" });
  replace(view, h("h1", {}, t("nav.keys")), fresh, section(t("nav.keys"), list), section(t("keys.new"), create));
  show();
}
