// The API as the console uses it: the session (a token from an API key, kept for this tab only in
// sessionStorage, renewed before it expires, never in a URL or in storage that outlives the tab) and calls that turn
// every answer that is not a success into an ApiError with the contract's code.

const SESSION = "yundian.session";
const base = new URL(".", window.location.href); // "/" locally, "/<stage>/" behind API Gateway

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
  }
}

// Codes after which the session is over: the console goes back to the sign-in page.
const SESSION_ENDED = new Set(["token_expired", "key_revoked", "invalid_token", "missing_token"]);

let session = null;
let refreshTimer = null;
let onEnded = () => {};

export function url(path, query) {
  const u = new URL(path.replace(/^\//, ""), base);
  for (const [k, v] of Object.entries(query || {})) if (v !== undefined && v !== null && v !== "") u.searchParams.set(k, v);
  return u;
}

function claimsOf(token) {
  const part = token.split(".")[1] || "";
  const json = atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "="));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0))));
}

async function send(method, path, { query, body, token, basic } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  if (basic) headers.Authorization = `Basic ${basic}`;
  let resp;
  try {
    resp = await fetch(url(path, query), {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit", cache: "no-store", redirect: "error",
    });
  } catch (err) {
    throw new ApiError(0, "network", String(err && err.message ? err.message : err));
  }
  if (resp.status === 204) return null;
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!resp.ok) {
    const code = data && typeof data.code === "string" ? data.code : `http_${resp.status}`;
    const message = data && typeof data.message === "string" ? data.message : text.slice(0, 200);
    throw new ApiError(resp.status, code, message);
  }
  return data;
}

function keep(answer) {
  const claims = claimsOf(answer.token);
  session = {
    token: answer.token, expiresAt: Date.parse(answer.expires_at) || claims.exp * 1000,
    issuedAt: (claims.iat || Math.floor(Date.now() / 1000)) * 1000,
    role: claims.role, partnerId: claims.partner_id || null, merchantId: claims.merchant_id || null,
    keyId: claims.key_id || null,
  };
  sessionStorage.setItem(SESSION, JSON.stringify(session));
  schedule();
  return session;
}

// Renew when two thirds of the token's life are gone (at most two minutes before it ends).
function schedule() {
  clearTimeout(refreshTimer);
  if (!session) return;
  const life = session.expiresAt - session.issuedAt;
  const at = session.expiresAt - Math.min(120000, life / 3);
  refreshTimer = setTimeout(refresh, Math.max(1000, at - Date.now()));
}

async function refresh() {
  if (!session) return;
  if (Date.now() >= session.expiresAt) { end("token_expired"); return; }
  try {
    keep(await send("POST", "/v1/auth/refresh", { token: session.token }));
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) end(err.code);
    else refreshTimer = setTimeout(refresh, 5000); // the network: try again while the token lives
  }
}

function end(code) {
  clearTimeout(refreshTimer);
  session = null;
  sessionStorage.removeItem(SESSION);
  onEnded(code);
}

export function onSessionEnded(fn) { onEnded = fn; }

export function restore() {
  try {
    const kept = JSON.parse(sessionStorage.getItem(SESSION) || "null");
    if (kept && kept.token && kept.expiresAt > Date.now()) { session = kept; schedule(); return session; }
  } catch { /* an unreadable session is no session */ }
  sessionStorage.removeItem(SESSION);
  return null;
}

export function current() { return session; }

// Exchange an API key for a token; the secret lives only in this call.
export async function signIn(keyId, secret) {
  const bytes = new TextEncoder().encode(`${keyId}:${secret}`);
  const basic = btoa(String.fromCharCode(...bytes));
  return keep(await send("POST", "/v1/auth/token", { basic }));
}

export function signOut() { end("signed_out"); }

export async function call(method, path, options = {}) {
  if (!session) throw new ApiError(401, "missing_token", "");
  if (Date.now() >= session.expiresAt) { end("token_expired"); throw new ApiError(401, "token_expired", ""); }
  try {
    return await send(method, path, { ...options, token: session.token });
  } catch (err) {
    if (err instanceof ApiError && err.status === 401 && SESSION_ENDED.has(err.code)) end(err.code);
    throw err;
  }
}

export const get = (path, query) => call("GET", path, { query });
export const post = (path, body) => call("POST", path, { body: body === undefined ? {} : body });
export const put = (path, body) => call("PUT", path, { body });
export const del = (path) => call("DELETE", path);

// Public, no token: the deployment's time zone and stage.
export const meta = () => send("GET", "/v1/meta");
