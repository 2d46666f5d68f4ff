// Contests: the list (admins create them), a contest's rounds and each round's leaderboard as a
// chart (a partner's own bar marked) and a table; admins run the ranking and settle a round after
// confirming, then see its winners. A partner's standing page.
import { current, get, post } from "../api.js";
import { boardChart } from "../charts.js";
import { append, field, formValues, h, replace } from "../dom.js";
import { number, time, zonedIso, zonedLocalNow } from "../format.js";
import { t } from "../i18n.js";
import { actionButton, badge, confirmDialog, figures, form, notice, section, seg, table, InputError } from "../ui.js";

const METRICS = ["merchants_onboarded", "active_merchants", "gmv_yuan", "new_members"];

// The round running now, else the last one that ended, else the first.
export function currentRound(contest, now = Date.now()) {
  const rounds = contest.rounds || [];
  const running = rounds.find((r) => Date.parse(r.starts_at) <= now && now < Date.parse(r.ends_at));
  if (running) return running.round;
  const ended = rounds.filter((r) => Date.parse(r.ends_at) <= now);
  return ended.length ? ended[ended.length - 1].round : (rounds[0] ? rounds[0].round : 1);
}

function roundState(r, now = Date.now()) {
  if (r.settled) return badge(t("contests.settled"), "ok");
  if (Date.parse(r.ends_at) <= now) return badge(t("contests.ended"), "warn");
  if (Date.parse(r.starts_at) <= now) return badge(t("contests.running"), "info");
  return badge(t("contests.upcoming"), "");
}

export async function contestsPage(view) {
  const who = current();
  const { contests } = await get("/v1/contests");
  const list = section(t("contests.title"), table([
    [t("contests.name"), (c) => h("a", { href: `#/contests/${seg(c.contest_id)}` }, c.name)],
    [t("contests.starts_at"), (c) => time(c.starts_at)],
    [t("contests.rounds"), (c) => `${c.rounds.length} × ${c.round_days} ${t("contests.days")}`],
    [t("contests.current"), (c) => t("contests.round_n", { n: currentRound(c) })],
    [t("contests.confirmed_only"), (c) => (c.rules && c.rules.require_platform_confirmation ? t("common.yes") : t("common.no"))],
  ], contests, { empty: t("contests.none") }));
  replace(view, h("h1", {}, t("nav.contests")), list);
  if (who.role === "admin") append(view, [section(t("contests.new"), createForm())]);
}

function createForm() {
  const prizeRow = (i, from, to, prize) => h("div", { class: "row" },
    field(t("contests.rank_from"), h("input", { name: `from${i}`, type: "number", min: 1, value: from })),
    field(t("contests.rank_to"), h("input", { name: `to${i}`, type: "number", min: 1, value: to })),
    field(t("contests.prize"), h("input", { name: `prize${i}`, maxlength: 100, value: prize })));
  return form([
    field(t("contests.name"), h("input", { name: "name", required: true, maxlength: 100 })),
    field(t("contests.starts_at"), h("input", { name: "starts_at", type: "datetime-local", required: true, value: zonedLocalNow() })),
    h("div", { class: "row" },
      field(t("contests.round_days"), h("input", { name: "round_days", type: "number", min: 1, max: 31, value: 7 })),
      field(t("contests.rounds"), h("input", { name: "rounds", type: "number", min: 1, max: 52, value: 4 }))),
    h("fieldset", {}, h("legend", {}, t("contests.weights")), h("div", { class: "row" },
      METRICS.map((m, i) => field(t(`metric.${m}`), h("input", {
        name: `w_${m}`, type: "number", min: 0, step: "any", value: [10, 5, 0.01, 2][i] }))))),
    h("label", { class: "check" }, h("input", { type: "checkbox", name: "confirmed_only", checked: true }),
      t("contests.confirmed_only_explain")),
    h("fieldset", {}, h("legend", {}, t("contests.prizes")),
      prizeRow(1, 1, 1, t("contests.prize_default_1")), prizeRow(2, 2, 3, t("contests.prize_default_2")), prizeRow(3, "", "", "")),
  ], t("contests.create"), async (el) => {
    const v = formValues(el);
    const startsAt = zonedIso(v.starts_at);
    if (!startsAt) throw new InputError(t("contests.bad_start"));
    const prizes = [1, 2, 3].filter((i) => v[`prize${i}`] && v[`from${i}`] && v[`to${i}`])
      .map((i) => ({ rank_from: Number(v[`from${i}`]), rank_to: Number(v[`to${i}`]), prize: v[`prize${i}`] }));
    const created = await post("/v1/contests", {
      name: v.name, starts_at: startsAt, round_days: Number(v.round_days), rounds: Number(v.rounds),
      weights: Object.fromEntries(METRICS.map((m) => [m, Number(v[`w_${m}`] || 0)])),
      rules: { require_platform_confirmation: v.confirmed_only }, prizes,
    });
    window.location.hash = `#/contests/${seg(created.contest_id)}`;
  }, { id: "create-contest" });
}

export async function contestPage(view, { id }, query) {
  const who = current();
  const contest = await get(`/v1/contests/${seg(id)}`);
  const round = Number(query.get("round")) || currentRound(contest);
  const own = who.role === "partner" ? who.partnerId : null;
  replace(view, h("header", { class: "page-head" }, h("h1", {}, contest.name),
    h("p", { class: "sub" }, t("contests.summary", { n: contest.rounds.length, days: contest.round_days, at: time(contest.starts_at) }))));
  append(view, [section(t("contests.rounds"), table([
    [t("contests.round"), (r) => h("a", { href: `#/contests/${seg(id)}?round=${r.round}`, "aria-current": r.round === round ? "true" : null },
      t("contests.round_n", { n: r.round }))],
    [t("contests.from"), (r) => time(r.starts_at)], [t("contests.to"), (r) => time(r.ends_at)],
    [t("contests.state"), (r) => roundState(r)],
  ], contest.rounds))]);
  if (own) append(view, [await standingCard(contest, round, own)]);
  const board = h("div", { id: "board" });
  append(view, [board]);
  await showBoard(board, contest, round, own);
  if (who.role === "admin") append(view, [adminActions(contest, round, board)]);
}

async function showBoard(board, contest, round, own) {
  const lb = await get(`/v1/contests/${seg(contest.contest_id)}/leaderboard`, { round, limit: 50 });
  const canvas = h("canvas", { id: "board-chart", role: "img" });
  const state = lb.final ? badge(t("contests.final"), "ok")
    : lb.as_of ? badge(t("contests.as_of", { at: time(lb.as_of) }), "info") : badge(t("contests.not_ranked"), "warn");
  replace(board, section(t("contests.leaderboard", { n: round }), h("p", {}, state),
    lb.entries.length ? h("div", { class: "chart" }, canvas) : null,
    table([
      [t("contests.rank"), (e) => String(e.rank)],
      [t("contests.partner"), (e) => (own && e.partner_id === own ? h("strong", {}, `${e.name} (${t("contests.you")})`) : e.name)],
      [t("contests.score"), (e) => number(e.score)],
      ...METRICS.map((m) => [t(`metric.${m}`), (e) => number(e.metrics[m])]),
    ], lb.entries, { empty: t("contests.board_empty") })));
  if (lb.entries.length) boardChart(canvas, lb.entries, own);
  return lb;
}

function adminActions(contest, round, board) {
  const info = contest.rounds.find((r) => r.round === round);
  const winners = h("div", { id: "winners" });
  const [rank, rankOut] = actionButton(t("contests.run_ranking"), async (out) => {
    const { result } = await post("/v1/admin/jobs/rank_contests");
    await showBoard(board, contest, round, null);
    append(out, [notice(t("contests.ranked", { n: result && Array.isArray(result.ranked) ? result.ranked.length : 0 }), "ok")]);
  }, { class: "primary", id: "run-ranking" });
  const [settle, settleOut] = actionButton(t("contests.settle", { n: round }), async () => {
    const ok = await confirmDialog(t("contests.settle_title", { n: round }),
      t("contests.settle_body", { name: contest.name, n: round }), t("contests.settle_confirm"));
    if (!ok) return;
    const result = await post(`/v1/contests/${seg(contest.contest_id)}/rounds/${round}/settle`);
    const names = Object.fromEntries(result.entries.map((e) => [e.partner_id, e.name]));
    replace(winners, section(t("contests.winners", { n: round }),
      h("p", {}, t("contests.settled_at", { at: time(result.settled_at) })),
      table([[t("contests.rank"), (w) => String(w.rank)], [t("contests.partner"), (w) => names[w.partner_id] || w.partner_id],
        [t("contests.prize"), (w) => w.prize]], result.winners, { empty: t("contests.no_winners") })));
    await showBoard(board, contest, round, null);
  }, { class: "danger", id: "settle-round", disabled: info && info.settled ? true : null });
  return section(t("contests.actions"), h("div", { class: "actions" }, rank, settle), rankOut, settleOut, winners);
}

async function standingCard(contest, round, partnerId) {
  const s = await get(`/v1/partners/${seg(partnerId)}/standing`, { contest_id: contest.contest_id, round });
  return section(t("standing.title", { n: round }), figures([
    [t("standing.rank"), s.rank ? t("standing.rank_of", { rank: s.rank, of: s.participants }) : t("standing.unranked"), "rank"],
    [t("contests.score"), number(s.score), "score"],
    [t("standing.gap"), s.gap_to_next_rank == null ? "—" : number(s.gap_to_next_rank), "gap"],
  ]));
}

export async function standingPage(view) {
  const who = current();
  const { contests } = await get("/v1/contests");
  replace(view, h("h1", {}, t("nav.standing")));
  if (!contests.length) { append(view, [notice(t("contests.none"))]); return; }
  for (const contest of contests) {
    const round = currentRound(contest);
    const card = await standingCard(contest, round, who.partnerId);
    card.querySelector("h2").textContent = `${contest.name} · ${t("contests.round_n", { n: round })}`;
    append(card, [h("p", {}, h("a", { href: `#/contests/${seg(contest.contest_id)}?round=${round}` }, t("standing.see_board")))]);
    append(view, [card]);
  }
}
