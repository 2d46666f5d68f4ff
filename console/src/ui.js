// Widgets every page uses: tables, figures, notices, errors in words, confirmation dialogs, paged
// lists and the once-only secret box.
import { ApiError } from "./api.js";
import { append, clear, h } from "./dom.js";
import { t } from "./i18n.js";

export const seg = encodeURIComponent;

// A form value the page itself refuses (before any request): its message is already in words.
export class InputError extends Error {}

// An error as a sentence: the contract's code translated where we know it, the API's message
// (and code) otherwise. Never a blank page.
export function errorText(err) {
  if (err instanceof InputError) return err.message;
  if (err instanceof ApiError) {
    const known = t(`error.${err.code}`, null, "");
    if (known) return known;
    if (err.status === 0) return t("error.network");
    return t("error.generic", { status: err.status, code: err.code, message: err.message || "" });
  }
  return t("error.unexpected", { message: String(err && err.message ? err.message : err) });
}

export function errorBox(err) {
  return h("div", { class: "notice error", role: "alert", "data-code": err instanceof ApiError ? err.code : "error" },
    errorText(err));
}

export function notice(text, kind = "info") {
  return h("div", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

export function loading() { return h("p", { class: "loading" }, t("common.loading")); }

// A table from rows and [header, cell(row)] columns; cells are text or elements.
export function table(columns, rows, { empty, caption } = {}) {
  if (!rows.length) return h("p", { class: "empty" }, empty || t("common.empty"));
  return h("div", { class: "table-wrap" }, h("table", {},
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, columns.map(([head]) => h("th", { scope: "col" }, head)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, columns.map(([head, cell]) =>
      h("td", { "data-label": head }, cell(row))))))));
}

export function figures(items) {
  return h("dl", { class: "figures" }, items.map(([label, value, testid]) =>
    h("div", { class: "figure", "data-figure": testid || null }, h("dt", {}, label), h("dd", {}, value))));
}

export function badge(text, kind) { return h("span", { class: `badge ${kind || ""}` }, text); }

export function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", {}, title), ...children);
}

// A button that runs `action` once at a time and shows its error under itself.
export function actionButton(label, action, attrs = {}) {
  const out = h("div", { class: "action-result" });
  const button = h("button", { type: "button", ...attrs }, label);
  button.addEventListener("click", async () => {
    button.disabled = true;
    clear(out);
    try { await action(out); } catch (err) { append(out, [errorBox(err)]); } finally { button.disabled = false; }
  });
  return [button, out];
}

// A form whose submit runs `action(values)`; errors appear in the form, in words.
export function form(fields, submitLabel, action, attrs = {}) {
  const out = h("div", { class: "form-result" });
  const button = h("button", { type: "submit", class: "primary" }, submitLabel);
  const el = h("form", { class: "form", novalidate: true, ...attrs }, fields, h("div", { class: "form-actions" }, button), out);
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    clear(out);
    try { await action(el, out); } catch (err) { append(out, [errorBox(err)]); } finally { button.disabled = false; }
  });
  return el;
}

// A modal confirmation (the native <dialog>); resolves true only on the confirm button.
export function confirmDialog(title, body, confirmLabel) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { class: "confirm", "aria-labelledby": "confirm-title" },
      h("h2", { id: "confirm-title" }, title), h("p", {}, body));
    const done = (answer) => { dialog.close(); dialog.remove(); resolve(answer); };
    append(dialog, [h("div", { class: "form-actions" },
      h("button", { type: "button", onclick: () => done(false) }, t("common.cancel")),
      h("button", { type: "button", class: "primary danger", onclick: () => done(true) }, confirmLabel))]);
    dialog.addEventListener("cancel", (e) => { e.preventDefault(); done(false); });
    document.body.append(dialog);
    dialog.showModal();
  });
}

// A secret the API shows once: shown with a copy button until the person says it is saved.
export function secretBox(title, pairs) {
  const box = h("div", { class: "secret", role: "status" }, h("strong", {}, title),
    h("p", {}, t("common.secret_once")),
    h("dl", {}, pairs.map(([label, value]) => [h("dt", {}, label), h("dd", {}, h("code", { class: "copyable" }, value))])));
  append(box, [h("button", { type: "button", onclick: () => box.remove() }, t("common.saved_it"))]);
  return box;
}

// A list read page by page (`next_cursor`): `load(cursor)` answers {rows, next}; rows render into a table.
export function pagedList(columns, load, options = {}) {
  const wrap = h("div", { class: "paged" });
  const rows = [];
  const more = h("button", { type: "button", class: "more" }, t("common.more"));
  let cursor = null;
  const render = () => {
    clear(wrap);
    append(wrap, [table(columns, rows, options)]);
    if (cursor) append(wrap, [more]);
  };
  const next = async () => {
    more.disabled = true;
    try {
      const page = await load(cursor);
      rows.push(...page.rows);
      cursor = page.next || null;
      render();
    } catch (err) {
      append(wrap, [errorBox(err)]);
    } finally { more.disabled = false; }
  };
  more.addEventListener("click", next);
  append(wrap, [loading()]);
  next();
  return wrap;
}
