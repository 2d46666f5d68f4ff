// Charts with Chart.js (registered piecemeal so the bundle carries only what is drawn). Every chart
// has its figures in words too (aria-label and the table beside it), for screen readers and tests.
import {
  BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, LineController, LineElement,
  PointElement, Tooltip,
} from "chart.js";
import { fenToYuanNumber, number } from "./format.js";
import { t } from "./i18n.js";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, LineController, LineElement,
  PointElement, Tooltip, Legend);

const ACCENT = "#c2410c";
const MUTED = "#94a3b8";
const INK = "#1e293b";

const charts = new WeakMap();

function draw(canvas, config) {
  charts.get(canvas)?.destroy();
  const chart = new Chart(canvas, { ...config, options: { animation: false, maintainAspectRatio: false, ...config.options } });
  charts.set(canvas, chart);
  return chart;
}

// The merchant's days: GMV (bars, yuan) and payments (line), one entry per day.
export function daysChart(canvas, days) {
  canvas.dataset.points = String(days.length);
  canvas.setAttribute("aria-label", t("chart.days", {
    n: days.length,
    gmv: number(days.reduce((s, d) => s + fenToYuanNumber(d.gmv_fen), 0)),
    payments: days.reduce((s, d) => s + d.payments, 0),
  }));
  return draw(canvas, {
    type: "bar",
    data: {
      labels: days.map((d) => d.date.slice(5)),
      datasets: [
        { type: "bar", label: t("chart.gmv"), data: days.map((d) => fenToYuanNumber(d.gmv_fen)),
          backgroundColor: ACCENT, yAxisID: "y" },
        { type: "line", label: t("chart.payments"), data: days.map((d) => d.payments), borderColor: INK,
          backgroundColor: INK, pointRadius: 2, yAxisID: "y1" },
      ],
    },
    options: {
      scales: {
        y: { beginAtZero: true, position: "left", title: { display: true, text: t("chart.yuan") } },
        y1: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false }, ticks: { precision: 0 } },
      },
    },
  });
}

// A round's leaderboard: scores as horizontal bars, `own` (a partner's id) drawn in the accent colour.
export function boardChart(canvas, entries, own) {
  canvas.dataset.points = String(entries.length);
  canvas.setAttribute("aria-label", t("chart.board", { n: entries.length }));
  return draw(canvas, {
    type: "bar",
    data: {
      labels: entries.map((e) => `${e.rank}. ${e.name}`),
      datasets: [{
        label: t("chart.score"), data: entries.map((e) => e.score),
        backgroundColor: entries.map((e) => (own && e.partner_id === own ? ACCENT : MUTED)),
      }],
    },
    options: { indexAxis: "y", plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true } } },
  });
}
