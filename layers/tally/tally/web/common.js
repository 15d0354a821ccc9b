/* Shared by the portal and the dashboard: DOM building, money and dates, JSON calls, the chart.
   No framework, no build step: plain browser JavaScript and the vendored Chart.js. */
"use strict";
window.Tally = (() => {
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  let locale; // undefined: the browser's
  function setLocale(value) { locale = value && value !== "auto" ? value : undefined; }

  /** Minor units → text, with the currency's own exponent (JPY has none). */
  function money(amount, currency) {
    if (amount === null || amount === undefined || !currency) return "—";
    const fmt = new Intl.NumberFormat(locale, { style: "currency", currency: currency.toUpperCase() });
    const digits = fmt.resolvedOptions().maximumFractionDigits;
    return fmt.format(amount / 10 ** digits);
  }
  function number(value) { return new Intl.NumberFormat(locale).format(value); }
  function date(ts, withTime) {
    if (!ts) return "—";
    const opts = withTime
      ? { dateStyle: "medium", timeStyle: "short", timeZone: "UTC" }
      : { dateStyle: "medium", timeZone: "UTC" };
    return new Intl.DateTimeFormat(locale, opts).format(new Date(ts * 1000)) + (withTime ? " UTC" : "");
  }

  class HttpError extends Error {
    constructor(status, body) {
      super((body && body.error && body.error.message) || `HTTP ${status}`);
      this.status = status;
      this.body = body;
    }
  }
  /** GET a JSON route with a bearer credential (never in the URL). */
  async function getJSON(path, credential, query) {
    const url = query ? `${path}?${new URLSearchParams(query)}` : path;
    const res = await fetch(url, { headers: { Authorization: `Bearer ${credential}` }, cache: "no-store" });
    let body = null;
    try { body = await res.json(); } catch (_) { body = null; }
    if (!res.ok) throw new HttpError(res.status, body);
    return body;
  }

  /** Render a table: columns [{label, value(row), num}] over rows; an empty list says so. */
  function table(caption, columns, rows) {
    if (!rows.length) return el("p", { class: "muted", text: `No ${caption.toLowerCase()} yet.` });
    return el("table", {},
      el("caption", { class: "sr-only", text: caption }),
      el("thead", {}, el("tr", {}, columns.map((c) => el("th", { scope: "col", class: c.num ? "num" : null, text: c.label })))),
      el("tbody", {}, rows.map((r) => el("tr", {}, columns.map((c) => {
        const v = c.value(r);
        return el("td", { class: c.num ? "num" : null }, v instanceof Node ? v : String(v ?? "—"));
      })))));
  }

  /** A bar chart of summaries ({start_time, aggregated_value}), optionally with a cumulative line
      and a projection to the period's end. Dataset 0 holds exactly the points the API returned. */
  function usageChart(canvas, summaries, { label, cumulative, projection } = {}) {
    const bars = summaries.map((s) => ({ x: s.start_time * 1000, y: s.aggregated_value }));
    const datasets = [{ type: "bar", label: label || "Usage", data: bars, backgroundColor: "#0b5cad" }];
    if (cumulative) {
      let run = 0;
      datasets.push({ type: "line", label: "Cumulative", data: bars.map((p) => ({ x: p.x, y: (run += p.y) })),
        borderColor: "#1a1a1a", backgroundColor: "#1a1a1a", pointRadius: 2 });
    }
    if (projection) {
      datasets.push({ type: "line", label: "Projection to period end", borderDash: [6, 4],
        borderColor: "#a45c00", backgroundColor: "#a45c00", pointRadius: 3,
        data: [{ x: projection.from * 1000, y: projection.total }, { x: projection.to * 1000, y: projection.projected }] });
    }
    const span = summaries.length > 1 ? summaries[1].start_time - summaries[0].start_time : 86400;
    const tick = (v) => date(v / 1000, span < 86400);
    return new Chart(canvas, {
      data: { datasets },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false, parsing: true,
        scales: { x: { type: "linear", ticks: { callback: tick, maxRotation: 0 } }, y: { beginAtZero: true } },
        plugins: { tooltip: { callbacks: { title: (items) => items.length ? tick(items[0].parsed.x) : "" } } },
      },
    });
  }

  return { el, money, number, date, setLocale, getJSON, HttpError, table, usageChart };
})();
