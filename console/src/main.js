// The console's shell: sign-in, the navigation of each role, the language switch and the router
// (#/… routes: the URL never carries a token). Pages live in pages/; every failure ends up on the
// page in words.
import * as api from "./api.js";
import { field, formValues, h, replace } from "./dom.js";
import { setTimeZone, zone } from "./format.js";
import { lang, setLang, t } from "./i18n.js";
import { auditPage, bindingsPage, callbacksPage, partnerPage, partnersPage } from "./pages/admin.js";
import { contestPage, contestsPage, standingPage } from "./pages/contests.js";
import { keysPage } from "./pages/keys.js";
import { merchantPage } from "./pages/merchant.js";
import { errorBox, form, notice } from "./ui.js";

const root = document.getElementById("app");
let endedBecause = null; // why the last session ended, shown on the sign-in page
let stage = "";

const NAV = {
  admin: () => [["#/contests", "nav.contests"], ["#/partners", "nav.partners"], ["#/bindings", "nav.bindings"],
    ["#/callbacks", "nav.callbacks"], ["#/audit", "nav.audit"], ["#/keys", "nav.keys"]],
  partner: () => [["#/standing", "nav.standing"], ["#/contests", "nav.contests"], ["#/merchants", "nav.merchants"],
    ["#/keys", "nav.keys"]],
  merchant: (s) => [["dashboard", "merchant.tab.dashboard"], ["payments", "merchant.tab.payments"],
    ["members", "merchant.tab.members"], ["plans", "merchant.tab.plans"], ["terminals", "merchant.tab.terminals"],
    ["callbacks", "merchant.tab.callbacks"]].map(([tab, key]) => [`#/merchants/${encodeURIComponent(s.merchantId)}/${tab}`, key])
    .concat([["#/keys", "nav.keys"]]),
};

const HOME = { admin: () => "#/contests", partner: () => "#/standing",
  merchant: (s) => `#/merchants/${encodeURIComponent(s.merchantId)}/dashboard` };

// [pattern, page, roles]
const ROUTES = [
  [/^\/contests$/, contestsPage, ["admin", "partner"]],
  [/^\/contests\/([^/]+)$/, (v, m, q) => contestPage(v, { id: m[1] }, q), ["admin", "partner"]],
  [/^\/standing$/, standingPage, ["partner"]],
  [/^\/partners$/, partnersPage, ["admin"]],
  [/^\/partners\/([^/]+)$/, (v, m) => partnerPage(v, { id: m[1] }), ["admin", "partner"]],
  [/^\/merchants$/, (v) => partnerPage(v, {}), ["partner"]],
  [/^\/merchants\/([^/]+)(?:\/([a-z]+))?$/, (v, m) => merchantPage(v, { id: m[1], tab: m[2] }), ["admin", "partner", "merchant"]],
  [/^\/bindings$/, bindingsPage, ["admin"]],
  [/^\/callbacks$/, callbacksPage, ["admin"]],
  [/^\/audit$/, auditPage, ["admin"]],
  [/^\/keys$/, keysPage, ["admin", "partner", "merchant"]],
];

function langSwitch() {
  const other = lang() === "zh" ? "en" : "zh";
  return h("button", { type: "button", class: "lang", lang: other === "zh" ? "zh-CN" : "en", id: "lang-switch",
    onclick: () => { setLang(other); render(); } }, other === "zh" ? "中文" : "English");
}

function signInPage() {
  document.title = t("signin.title");
  const message = endedBecause && endedBecause !== "signed_out"
    ? notice(t(`ended.${endedBecause}`, null, t("ended.other")), "error") : null;
  const secret = h("input", { name: "secret", type: "password", required: true, autocomplete: "off", spellcheck: "false" });
  const signIn = form([
    field(t("signin.key_id"), h("input", { name: "key_id", required: true, autocomplete: "username", spellcheck: "false" })),
    field(t("signin.secret"), secret),
  ], t("signin.submit"), async (el) => {
    const v = formValues(el);
    secret.value = ""; // the secret is dropped at once: only the token is kept, for this tab
    await api.signIn(v.key_id, v.secret);
    endedBecause = null;
    window.location.hash = HOME[api.current().role](api.current());
    render();
  }, { id: "sign-in" });
  replace(root,
    h("header", { class: "top" }, h("span", { class: "brand" }, t("brand")), h("span", { class: "spacer" }), langSwitch()),
    h("main", { class: "signin" }, h("h1", {}, t("signin.title")), h("p", { class: "hint" }, t("signin.explain")),
      message, signIn));
}

function shell(session) {
  const nav = NAV[session.role](session);
  const hash = window.location.hash || "";
  const links = nav.map(([href, key]) => h("a", { href, "aria-current": hash === href || hash.startsWith(`${href}/`) || hash.startsWith(`${href}?`) ? "page" : null }, t(key)));
  const main = h("main", { id: "view", tabindex: "-1" });
  replace(root,
    h("header", { class: "top" },
      h("span", { class: "brand" }, t("brand")),
      h("span", { class: "who", "data-role": session.role }, t(`role.${session.role}`), stage && stage !== "prod" ? ` · ${stage}` : ""),
      h("span", { class: "spacer" }), langSwitch(),
      h("button", { type: "button", id: "sign-out", onclick: () => api.signOut() }, t("signout"))),
    h("nav", { class: "main-nav", "aria-label": t("nav.label") }, links),
    main,
    h("footer", {}, t("footer", { tz: zone() })));
  return main;
}

let renderSeq = 0;
export async function render() {
  document.documentElement.lang = lang() === "zh" ? "zh-CN" : "en";
  const session = api.current();
  if (!session) { signInPage(); return; }
  const raw = (window.location.hash || "").replace(/^#/, "");
  if (!raw || raw === "/") { window.location.hash = HOME[session.role](session); return; }
  const [path, qs] = raw.split("?");
  const view = shell(session);
  const seq = ++renderSeq;
  const route = ROUTES.find(([re]) => re.test(path));
  document.title = `${t("brand")} · ${t(`role.${session.role}`)}`;
  if (!route) { replace(view, errorBox(new api.ApiError(404, "page_not_found", path))); return; }
  const [re, page, roles] = route;
  if (!roles.includes(session.role)) { replace(view, notice(t("error.page_forbidden"), "error")); return; }
  replace(view, h("p", { class: "loading" }, t("common.loading")));
  try {
    await page(view, path.match(re).map((p) => (p === undefined ? p : decodeURIComponent(p))), new URLSearchParams(qs || ""));
  } catch (err) {
    if (seq === renderSeq && api.current()) replace(view, errorBox(err));
  }
}

api.onSessionEnded((code) => { endedBecause = code; render(); });
window.addEventListener("hashchange", render);

async function start() {
  try {
    const m = await api.meta();
    setTimeZone(m.time_zone);
    stage = m.stage;
  } catch { /* the default zone until the API answers; pages say what failed */ }
  api.restore();
  render();
}
start();
