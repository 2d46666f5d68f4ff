// Money, times and dates as people read them: yuan with two decimals from integer fen (integer
// arithmetic, never float money), times in the deployment's time zone (GET /v1/meta).
import { lang } from "./i18n.js";

let timeZone = "Asia/Shanghai";
export function setTimeZone(tz) { timeZone = tz; }
export function zone() { return timeZone; }

const locale = () => (lang() === "zh" ? "zh-CN" : "en-GB");

export function yuan(fen) {
  if (fen === null || fen === undefined) return "—";
  const n = Math.trunc(Number(fen));
  const sign = n < 0 ? "-" : "";
  const abs = Math.abs(n);
  const whole = new Intl.NumberFormat(locale(), { maximumFractionDigits: 0 }).format(Math.floor(abs / 100));
  return `${sign}¥${whole}.${String(abs % 100).padStart(2, "0")}`;
}

// "30" or "30.5" yuan → 3000 / 3050 fen, exactly (no float money); null when not an amount.
export function parseYuan(text) {
  const m = /^(\d{1,9})(?:\.(\d{1,2}))?$/.exec(String(text).trim());
  return m ? Number(m[1]) * 100 + Number((m[2] || "0").padEnd(2, "0")) : null;
}

export function fenToYuanNumber(fen) { return Math.trunc(Number(fen)) / 100; }

export function count(n) {
  return n === null || n === undefined ? "—" : new Intl.NumberFormat(locale()).format(n);
}

export function number(n, digits = 2) {
  return n === null || n === undefined ? "—"
    : new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }).format(n);
}

export function time(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return new Intl.DateTimeFormat(locale(), {
    timeZone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    hour12: false,
  }).format(d);
}

// The parts of an instant on the wall clock of the time zone.
function parts(date) {
  const out = {};
  for (const p of new Intl.DateTimeFormat("en-US", {
    timeZone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    second: "2-digit", hour12: false,
  }).formatToParts(date)) out[p.type] = p.value;
  if (out.hour === "24") out.hour = "00";
  return out;
}

// Today's business date (YYYY-MM-DD) in the time zone.
export function today(now = new Date()) {
  const p = parts(now);
  return `${p.year}-${p.month}-${p.day}`;
}

// YYYY-MM-DD plus `days` (calendar arithmetic, no time zone involved).
export function addDays(date, days) {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

// "YYYY-MM-DDTHH:MM" read on the time zone's wall clock → an ISO instant with its offset.
export function zonedIso(local) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})$/.exec(local);
  if (!m) return null;
  const asUtc = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
  let guess = asUtc;
  for (let i = 0; i < 2; i++) { // the offset at the instant itself (DST-safe for the usual zones)
    const p = parts(new Date(guess));
    const shown = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second);
    guess = asUtc - (shown - guess);
  }
  const offsetMin = Math.round((asUtc - guess) / 60000);
  const sign = offsetMin < 0 ? "-" : "+";
  const abs = Math.abs(offsetMin);
  const off = `${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
  return `${local}:00${off}`;
}

// The time zone's wall clock now as "YYYY-MM-DDTHH:MM" (a datetime-local input's value).
export function zonedLocalNow(now = new Date()) {
  const p = parts(now);
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
}
