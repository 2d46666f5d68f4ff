// One merchant: dashboard with the 30-day chart, payments (confirmed or not), members, plans,
// terminals, bindings (verification for admins, the Alipay authorization QR code for partners)
// and its callback log. Admins and partners reach it from a partner's merchants; it is a merchant's home.
import QRCode from "qrcode";
import { current, del, get, post, put } from "../api.js";
import { daysChart } from "../charts.js";
import { append, field, formValues, h, replace, select } from "../dom.js";
import { addDays, count, parseYuan, time, today, yuan } from "../format.js";
import { t } from "../i18n.js";
import {
  actionButton, badge, confirmDialog, figures, form, loading, pagedList, secretBox, section,
  seg, table, InputError,
} from "../ui.js";

export const TABS = ["dashboard", "payments", "members", "plans", "terminals", "bindings", "callbacks"];

export async function merchantPage(view, { id, tab }) {
  const who = current();
  const active = TABS.includes(tab) ? tab : "dashboard";
  const merchant = await get(`/v1/merchants/${seg(id)}`);
  const tabs = TABS.filter((name) => name !== "bindings" || who.role !== "merchant");
  replace(view,
    h("header", { class: "page-head" },
      h("h1", { "data-merchant-name": "" }, merchant.name),
      h("p", { class: "sub" }, [t(`category.${merchant.category}`, null, merchant.category), merchant.city || ""]
        .filter(Boolean).join(" · "))),
    who.role === "merchant" ? null : h("nav", { class: "tabs", "aria-label": t("merchant.tabs") },
      tabs.map((name) => h("a", {
        href: `#/merchants/${seg(id)}/${name}`, "aria-current": name === active ? "page" : null,
      }, t(`merchant.tab.${name}`)))),
  );
  const body = h("div", { class: "tab-body" }, loading());
  append(view, [body]);
  const pages = { dashboard, payments, members, plans, terminals, bindings, callbacks };
  await pages[active](body, merchant);
}

async function dashboard(body, merchant) {
  const d = await get(`/v1/merchants/${seg(merchant.merchant_id)}/dashboard`);
  const from = addDays(d.date, -29);
  const series = await get(`/v1/merchants/${seg(merchant.merchant_id)}/dashboard/series`, { from, to: d.date });
  const canvas = h("canvas", { id: "days-chart", role: "img" });
  replace(body,
    section(t("dashboard.today", { date: d.date }), figures([
      [t("dashboard.gmv"), yuan(d.day.gmv_fen), "day-gmv"], [t("dashboard.payments"), count(d.day.payments), "day-payments"],
      [t("dashboard.refunds"), yuan(d.day.refunds_fen), "day-refunds"], [t("dashboard.customers"), count(d.day.customers), "day-customers"],
    ])),
    section(t("dashboard.month"), figures([
      [t("dashboard.gmv"), yuan(d.month.gmv_fen), "month-gmv"], [t("dashboard.payments"), count(d.month.payments)],
      [t("dashboard.refunds"), yuan(d.month.refunds_fen)], [t("dashboard.customers"), count(d.month.customers)],
      [t("dashboard.members_active"), count(d.members.active), "members-active"],
      [t("dashboard.locked_fees"), yuan(d.members.locked_fees_fen)], [t("dashboard.savings"), yuan(d.members.savings_fen)],
    ])),
    section(t("dashboard.last30"), h("div", { class: "chart" }, canvas),
      h("details", {}, h("summary", {}, t("dashboard.as_table")), table([
        [t("common.date"), (r) => r.date], [t("dashboard.gmv"), (r) => yuan(r.gmv_fen)],
        [t("dashboard.payments"), (r) => count(r.payments)], [t("dashboard.refunds"), (r) => yuan(r.refunds_fen)],
        [t("dashboard.customers"), (r) => count(r.customers)],
      ], series.days))));
  daysChart(canvas, series.days);
}

function paymentColumns() {
  return [
    [t("payments.paid_at"), (p) => time(p.paid_at)],
    [t("payments.out_trade_no"), (p) => h("code", {}, p.out_trade_no)],
    [t("payments.amount"), (p) => yuan(p.amount_fen)],
    [t("payments.discount"), (p) => yuan(p.discount_fen)],
    [t("payments.refunded"), (p) => yuan(p.refunded_fen)],
    [t("payments.buyer"), (p) => p.buyer_id],
    [t("payments.channels"), (p) => p.channels.map((c) => t(`channel.${c}`, null, c)).join(" + ")],
    [t("payments.status"), (p) => p.confirmed
      ? badge(t("payments.confirmed"), "ok") : badge(t("payments.unconfirmed"), "warn")],
    [t("payments.flags"), (p) => p.flags.join(", ")],
  ];
}

async function payments(body, merchant) {
  const date = h("input", { type: "date", name: "date", value: today(), required: true });
  const list = h("div", {});
  const show = () => replace(list, pagedList(paymentColumns(), async (cursor) => {
    const page = await get(`/v1/merchants/${seg(merchant.merchant_id)}/payments`,
      { date: date.value, limit: 50, cursor });
    return { rows: page.payments, next: page.next_cursor };
  }, { empty: t("payments.none") }));
  date.addEventListener("change", show);
  replace(body, section(t("merchant.tab.payments"),
    h("p", { class: "hint" }, t("payments.explain")), field(t("common.date"), date), list));
  show();
}

async function members(body, merchant) {
  const status = select("status", [["", t("members.all")], ...["active", "expired", "refunded", "settled"]
    .map((s) => [s, t(`members.status.${s}`)])], "");
  const list = h("div", {});
  const show = () => replace(list, pagedList([
    [t("members.id"), (m) => h("code", {}, m.membership_id)],
    [t("members.status"), (m) => badge(t(`members.status.${m.status}`, null, m.status), m.status === "active" ? "ok" : "")],
    [t("members.fee"), (m) => yuan(m.fee_fen)], [t("members.savings"), (m) => yuan(m.savings_fen)],
    [t("members.starts"), (m) => time(m.starts_at)], [t("members.ends"), (m) => time(m.ends_at)],
    [t("members.refundable"), (m) => yuan(m.refundable_fen)],
  ], async (cursor) => {
    const page = await get(`/v1/merchants/${seg(merchant.merchant_id)}/memberships`,
      { status: status.value, limit: 50, cursor });
    return { rows: page.memberships, next: page.next_cursor };
  }, { empty: t("members.none") }));
  status.addEventListener("change", show);
  replace(body, section(t("merchant.tab.members"), field(t("members.status"), status), list));
  show();
}

async function plans(body, merchant) {
  const { plans: list } = await get(`/v1/merchants/${seg(merchant.merchant_id)}/plans`);
  const create = form([
    field(t("plans.name"), h("input", { name: "name", required: true, maxlength: 100 })),
    field(t("plans.fee"), h("input", { name: "fee", inputmode: "decimal", required: true, placeholder: "30.00" })),
    field(t("plans.period_days"), h("input", { name: "period_days", type: "number", min: 7, max: 366, value: 30 })),
    field(t("plans.discount_percent"), h("input", { name: "discount_percent", type: "number", min: 1, max: 50, value: 10 })),
    field(t("plans.max_discount"), h("input", { name: "max_discount", inputmode: "decimal", placeholder: "5.00" })),
    field(t("plans.refund_window_days"), h("input", { name: "refund_window_days", type: "number", min: 1, max: 30, value: 7 })),
  ], t("plans.create"), async (el) => {
    const v = formValues(el);
    const fee = parseYuan(v.fee);
    if (fee === null) throw new InputError(t("common.bad_amount"));
    const plan = { name: v.name, fee_fen: fee, period_days: Number(v.period_days),
      discount_percent: Number(v.discount_percent), refund_window_days: Number(v.refund_window_days) };
    if (v.max_discount) {
      plan.max_discount_per_order_fen = parseYuan(v.max_discount);
      if (plan.max_discount_per_order_fen === null) throw new InputError(t("common.bad_amount"));
    }
    await post(`/v1/merchants/${seg(merchant.merchant_id)}/plans`, plan);
    await plans(body, merchant);
  });
  replace(body, section(t("merchant.tab.plans"), table([
    [t("plans.name"), (p) => p.name], [t("plans.fee"), (p) => yuan(p.fee_fen)],
    [t("plans.period_days"), (p) => count(p.period_days)], [t("plans.discount_percent"), (p) => `${p.discount_percent}%`],
    [t("plans.max_discount"), (p) => (p.max_discount_per_order_fen == null ? "—" : yuan(p.max_discount_per_order_fen))],
    [t("plans.refund_window_days"), (p) => count(p.refund_window_days)],
  ], list, { empty: t("plans.none") })), section(t("plans.new"), create));
}

async function terminals(body, merchant) {
  const { terminals: list } = await get(`/v1/merchants/${seg(merchant.merchant_id)}/terminals`);
  const stores = Object.fromEntries(merchant.stores.map((s) => [s.store_id, s.name]));
  const fresh = h("div", {});
  const register = form([
    field(t("terminals.store"), select("store_id", merchant.stores.map((s) => [s.store_id, s.name]))),
    field(t("terminals.kind"), select("kind", ["qr", "face", "pos"].map((k) => [k, t(`terminals.kind.${k}`)]), "qr")),
  ], t("terminals.register"), async (el) => {
    const created = await post(`/v1/merchants/${seg(merchant.merchant_id)}/terminals`, formValues(el));
    await terminals(body, merchant);
    body.prepend(secretBox(t("terminals.created"), [
      [t("terminals.id"), created.terminal_id], [t("terminals.secret"), created.secret]]));
  });
  replace(body, fresh, section(t("merchant.tab.terminals"), table([
    [t("terminals.id"), (x) => h("code", {}, x.terminal_id)], [t("terminals.store"), (x) => stores[x.store_id] || x.store_id],
    [t("terminals.kind"), (x) => t(`terminals.kind.${x.kind}`, null, x.kind)],
    [t("common.created_at"), (x) => time(x.created_at)],
    [t("terminals.state"), (x) => (x.revoked ? badge(t("terminals.revoked"), "") : actionButton(t("terminals.revoke"), async () => {
      if (!(await confirmDialog(t("terminals.revoke_title"), t("terminals.revoke_body", { id: x.terminal_id }), t("terminals.revoke")))) return;
      await del(`/v1/terminals/${seg(x.terminal_id)}`);
      await terminals(body, merchant);
    }, { class: "danger" }))],
  ], list, { empty: t("terminals.none") })), section(t("terminals.new"), register));
}

async function bindings(body, merchant) {
  const who = current();
  const fresh = await get(`/v1/merchants/${seg(merchant.merchant_id)}`);
  const parts = [section(t("merchant.tab.bindings"), h("p", { class: "hint" }, t("bindings.explain")), table([
    [t("bindings.platform"), (b) => t(`channel.${b.platform}`, null, b.platform)],
    [t("bindings.id"), (b) => h("code", {}, b.id)],
    [t("bindings.state"), (b) => (b.verified ? badge(t("bindings.verified"), "ok") : badge(t("bindings.claim"), "warn"))],
    [t("bindings.verified_at"), (b) => time(b.verified_at)],
    ...(who.role === "admin" ? [[t("common.actions"), (b) => [
      b.verified ? null : actionButton(t("bindings.verify"), async () => {
        await put(`/v1/admin/merchants/${seg(merchant.merchant_id)}/bindings/${seg(b.platform)}`, { id: b.id });
        await bindings(body, merchant);
      }, { class: "primary" }),
      actionButton(t("bindings.delete"), async () => {
        if (!(await confirmDialog(t("bindings.delete_title"), t("bindings.delete_body", { id: b.id }), t("bindings.delete")))) return;
        await del(`/v1/admin/merchants/${seg(merchant.merchant_id)}/bindings/${seg(b.platform)}`);
        await bindings(body, merchant);
      }, { class: "danger" })]]] : []),
  ], fresh.bindings, { empty: t("bindings.none") }))];
  if (who.role === "admin") {
    parts.push(section(t("bindings.set"), form([
      field(t("bindings.platform"), select("platform", [["alipay", t("channel.alipay")], ["wechatpay", t("channel.wechatpay")]], "alipay")),
      field(t("bindings.id"), h("input", { name: "id", required: true, maxlength: 64 })),
    ], t("bindings.verify"), async (el) => {
      const v = formValues(el);
      await put(`/v1/admin/merchants/${seg(merchant.merchant_id)}/bindings/${seg(v.platform)}`, { id: v.id });
      await bindings(body, merchant);
    })));
  }
  const qr = h("div", { class: "qr" });
  parts.push(section(t("bindings.authorize"), h("p", { class: "hint" }, t("bindings.authorize_explain")),
    actionButton(t("bindings.make_qr"), async () => {
      const { url: link, expires_at: expires } = await get(`/v1/merchants/${seg(merchant.merchant_id)}/bindings/alipay/authorize-url`);
      const canvas = h("canvas", { id: "authorize-qr", role: "img", "aria-label": t("bindings.qr_label") });
      replace(qr, canvas, h("p", {}, t("bindings.qr_expires", { at: time(expires) })),
        h("p", {}, h("a", { href: link, target: "_blank", rel: "noopener noreferrer", class: "break" }, t("bindings.open_link"))));
      canvas.dataset.url = link;
      await QRCode.toCanvas(canvas, link, { width: 240, margin: 2, errorCorrectionLevel: "M" });
    }), qr));
  replace(body, ...parts);
}

async function callbacks(body, merchant) {
  replace(body, section(t("merchant.tab.callbacks"), callbackList(async (cursor) => {
    const page = await get(`/v1/merchants/${seg(merchant.merchant_id)}/callbacks`, { limit: 50, cursor });
    return { rows: page.callbacks, next: page.next_cursor };
  })));
}

export function callbackList(load) {
  return pagedList([
    [t("callbacks.received_at"), (c) => time(c.received_at)],
    [t("callbacks.channel"), (c) => t(`channel.${c.channel}`, null, c.channel)],
    [t("callbacks.outcome"), (c) => c.outcome || "—"],
    [t("callbacks.status"), (c) => `${c.status}${c.code ? ` ${c.code}` : ""}`],
    [t("callbacks.merchant"), (c) => (c.merchant_id ? h("a", { href: `#/merchants/${seg(c.merchant_id)}/callbacks` }, c.merchant_id) : "—")],
    [t("callbacks.out_trade_no"), (c) => c.out_trade_no || "—"],
  ], load, { empty: t("callbacks.none") });
}

