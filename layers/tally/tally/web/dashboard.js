/* The operator dashboard: the account's objects through the public API, with the key typed into
   the page. The key is kept in sessionStorage (this tab only), sent only as a bearer header, and
   never put in a URL. */
"use strict";
(() => {
  const { el, money, number, date, getJSON, table, usageChart } = window.Tally;
  const KEY = "tally.dashboard.key";
  const $ = (id) => document.getElementById(id);
  let key = sessionStorage.getItem(KEY);
  let chart = null;

  const api = (path, query) => getJSON(path, key, query);
  const id = (o) => o.id;
  const LISTS = {
    customers: { title: "Customers", path: "/v1/customers", columns: [
      { label: "ID", value: id }, { label: "Name", value: (c) => c.name }, { label: "Email", value: (c) => c.email },
      { label: "Balance", value: (c) => money(c.balance, c.currency), num: true }, { label: "Created", value: (c) => date(c.created) }] },
    meters: { title: "Meters", path: "/v1/billing/meters", columns: [
      { label: "ID", value: id }, { label: "Name", value: (m) => m.display_name }, { label: "Event name", value: (m) => m.event_name },
      { label: "Aggregation", value: (m) => m.default_aggregation.formula }, { label: "Status", value: (m) => m.status }] },
    subscriptions: { title: "Subscriptions", path: "/v1/subscriptions", query: { status: "all" }, columns: [
      { label: "ID", value: id }, { label: "Customer", value: (s) => s.customer }, { label: "Status", value: (s) => s.status },
      { label: "Current period", value: (s) => `${date(s.items.data[0]?.current_period_start)} – ${date(s.items.data[0]?.current_period_end)}` },
      { label: "Prices", value: (s) => s.items.data.map((i) => i.price.nickname || i.price.id).join(", ") }] },
    invoices: { title: "Invoices", path: "/v1/invoices", columns: [
      { label: "ID", value: id }, { label: "Number", value: (i) => i.number }, { label: "Customer", value: (i) => i.customer },
      { label: "Status", value: (i) => i.status }, { label: "Total", value: (i) => money(i.total, i.currency), num: true },
      { label: "Created", value: (i) => date(i.created) }] },
    alerts: { title: "Alerts", path: "/v1/billing/alerts", columns: [
      { label: "ID", value: id }, { label: "Title", value: (a) => a.title }, { label: "Status", value: (a) => a.status },
      { label: "Meter", value: (a) => a.usage_threshold?.meter }, { label: "Threshold", value: (a) => a.usage_threshold?.gte, num: true }] },
    deliveries: { title: "Webhook deliveries", load: loadDeliveries, columns: [
      { label: "Endpoint", value: (a) => a.endpoint_url }, { label: "Event", value: (a) => `${a.event_type} (${a.event})` },
      { label: "Attempt", value: (a) => a.attempt, num: true }, { label: "Succeeded", value: (a) => (a.succeeded ? "yes" : "no") },
      { label: "Status code", value: (a) => a.status_code }, { label: "At", value: (a) => date(a.created, true) }] },
    events: { title: "Event log", path: "/v1/events", columns: [
      { label: "ID", value: id }, { label: "Type", value: (e) => e.type }, { label: "Object", value: (e) => e.data?.object?.id },
      { label: "Created", value: (e) => date(e.created, true) }] },
  };
  // Revenue recognition (branch revrec) adds its tab when its route answers: see `revenueHook`.
  const TABS = [["usage", "Usage"], ...Object.entries(LISTS).map(([k, v]) => [k, v.title])];

  async function loadDeliveries() {
    const endpoints = (await api("/v1/webhook_endpoints", { limit: 100 })).data;
    const attempts = await Promise.all(endpoints.map(async (e) =>
      (await api(`/v1/webhook_endpoints/${e.id}/attempts`, { limit: 50 })).data.map((a) => ({ ...a, endpoint_url: e.url }))));
    return attempts.flat().sort((a, b) => b.created - a.created);
  }

  function showError(error) {
    const box = $("error");
    box.textContent = error.status === 401 ? "That key was not accepted: check it and sign in again." : `Error: ${error.message}`;
    box.hidden = false;
  }

  async function select(tab) {
    for (const button of $("tabs").children) button.setAttribute("aria-selected", String(button.dataset.tab === tab));
    $("usage-panel").hidden = tab !== "usage";
    $("list-panel").hidden = tab === "usage";
    $("error").hidden = true;
    if (tab === "usage") return;
    const spec = LISTS[tab];
    $("list-panel").setAttribute("aria-labelledby", `tab-${tab}`);
    $("list-title").textContent = spec.title;
    $("list").replaceChildren(el("p", { class: "muted", role: "status", text: "Loading…" }));
    try {
      if (spec.render) {
        $("list").replaceChildren(await spec.render());
      } else {
        const rows = spec.load ? await spec.load() : (await api(spec.path, { limit: 100, ...(spec.query || {}) })).data;
        $("list").replaceChildren(table(spec.title, spec.columns, rows));
      }
    } catch (error) {
      $("list").replaceChildren();
      showError(error);
    }
  }

  function day(value) { return Math.floor(Date.parse(`${value}T00:00:00Z`) / 1000); }

  /** Each customer's summaries of one meter over the range (oldest first), as the API answers. */
  async function usage(meter, customers, grouping, start, end) {
    return Promise.all(customers.map(async (c) => {
      const page = await api(`/v1/billing/meters/${meter}/event_summaries`,
        { customer: c, start_time: start, end_time: end, value_grouping_window: grouping, limit: 100 });
      return { customer: c, summaries: page.data.slice().reverse() };
    }));
  }

  const PALETTE = ["#0b5cad", "#a45c00", "#1a7f37", "#8250df", "#cf222e", "#1a1a1a"];
  /** All customers: one stacked bar series per customer with usage in the range. */
  function stackedChart(canvas, series, grouping) {
    const tick = (v) => date(v / 1000, grouping === "hour");
    return new Chart(canvas, {
      type: "bar",
      data: { datasets: series.map((s, i) => ({ label: s.label, backgroundColor: PALETTE[i % PALETTE.length],
        data: s.summaries.map((p) => ({ x: p.start_time * 1000, y: p.aggregated_value })) })) },
      options: { animation: false, responsive: true, maintainAspectRatio: false,
        scales: { x: { type: "linear", stacked: true, ticks: { callback: tick, maxRotation: 0 } },
          y: { stacked: true, beginAtZero: true } } },
    });
  }

  async function showUsage(event) {
    event.preventDefault();
    const meter = $("meter").value;
    const start = day($("from").value);
    const end = day($("to").value) + 86400;
    const grouping = $("grouping").value;
    if (!meter || !(end > start)) { $("usage-note").textContent = "Choose a meter and a range whose end follows its start."; return; }
    if (grouping === "hour" && end - start > 4 * 86400) { $("usage-note").textContent = "Hourly usage covers at most 4 days: narrow the range or group by day."; return; }
    const one = $("customer").value;
    const options = [...$("customer").options].filter((o) => o.value);
    const customers = one ? [one] : options.map((o) => o.value);
    try {
      const per = await usage(meter, customers, grouping, start, end);
      const sum = (list) => list.reduce((acc, p) => acc + p.aggregated_value, 0);
      const total = per.reduce((acc, c) => acc + sum(c.summaries), 0);
      const who = one || `all ${customers.length} customers`;
      $("usage-note").textContent = `${number(total)} in total for ${who}.`;
      $("usage-chart").setAttribute("aria-label", `Usage of ${$("meter").selectedOptions[0].text} per ${grouping} for ${who}: ${number(total)} in total.`);
      if (chart) chart.destroy();
      if (one) {
        chart = usageChart($("usage-chart"), per[0].summaries, { label: `Usage per ${grouping}` });
      } else {
        const label = (c) => options.find((o) => o.value === c).textContent;
        const used = per.filter((c) => sum(c.summaries) > 0).map((c) => ({ label: label(c.customer), summaries: c.summaries }));
        chart = stackedChart($("usage-chart"), used, grouping);
      }
      document.body.dataset.chart = String(Number(document.body.dataset.chart || 0) + 1);
    } catch (error) { showError(error); }
  }

  async function start() {
    $("signin").hidden = true;
    $("signout").hidden = false;
    $("app").hidden = false;
    $("tabs").replaceChildren(...TABS.map(([k, label]) => el("button", { type: "button", role: "tab", id: `tab-${k}`,
      "data-tab": k, "aria-selected": "false", "aria-controls": k === "usage" ? "usage-panel" : "list-panel",
      onclick: () => select(k) }, label)));
    await revenueHook();
    const [meters, customers] = await Promise.all([api("/v1/billing/meters", { limit: 100 }), api("/v1/customers", { limit: 100 })]);
    $("meter").replaceChildren(...meters.data.map((m) => el("option", { value: m.id }, `${m.display_name} (${m.event_name})`)));
    $("customer").replaceChildren(el("option", { value: "" }, "All customers"),
      ...customers.data.map((c) => el("option", { value: c.id }, `${c.name || c.email || c.id} (${c.id})`)));
    const today = new Date().toISOString().slice(0, 10);
    $("to").value = today;
    $("from").value = new Date(Date.now() - 6 * 86400000).toISOString().slice(0, 10);
    await select("usage");
    document.body.dataset.ready = "true";
  }

  /** Revenue recognition (issue 16 point 5, branch revrec): a tab with its journal as a table,
      added only when `GET /v1/tally/revenue_recognition` answers (404 before that branch). */
  const REVENUE = "/v1/tally/revenue_recognition";
  function monthStart(offset) {
    const now = new Date();
    return Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + offset, 1) / 1000;
  }
  async function revenueReport() {
    const report = await api(REVENUE, { interval_start: monthStart(-11), interval_end: monthStart(1) });
    if (!report.data.length) return el("p", { class: "muted", text: "No revenue recognized in the last 12 months." });
    return el("div", {}, report.data.map((cur) => el("div", {},
      el("h3", { text: `Revenue recognition (${cur.currency.toUpperCase()}), net per month` }),
      table(`Revenue recognition ${cur.currency}`, [
        { label: "Account", value: (a) => a.account },
        ...report.accounting_periods.map((p, i) => ({ label: p, num: true, value: (a) => money(a.periods[i].net, cur.currency) })),
        { label: "Total", num: true, value: (a) => money(a.net, cur.currency) },
      ], cur.accounts))));
  }
  async function revenueHook() {
    try {
      await api(REVENUE, { interval_start: monthStart(0), interval_end: monthStart(1) });
    } catch (_) {
      return; // not served here (yet): no tab
    }
    LISTS.revenue = { title: "Revenue recognition", render: revenueReport };
    $("tabs").append(el("button", { type: "button", role: "tab", id: "tab-revenue", "data-tab": "revenue",
      "aria-selected": "false", "aria-controls": "list-panel", onclick: () => select("revenue") }, "Revenue recognition"));
  }

  $("signin").addEventListener("submit", async (event) => {
    event.preventDefault();
    key = $("key").value.trim();
    $("key").value = "";
    try {
      await api("/v1/customers", { limit: 1 });
    } catch (error) { key = null; showError(error); return; }
    sessionStorage.setItem(KEY, key);
    $("error").hidden = true;
    start().catch(showError);
  });
  $("signout").addEventListener("click", () => { sessionStorage.removeItem(KEY); location.reload(); });
  $("usage-form").addEventListener("submit", showUsage);
  // ARIA tabs: the arrow keys move between tabs (Enter or Space opens one)
  $("tabs").addEventListener("keydown", (event) => {
    const tabs = [...$("tabs").children];
    const at = tabs.indexOf(document.activeElement);
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (at < 0 || !step) return;
    event.preventDefault();
    tabs[(at + step + tabs.length) % tabs.length].focus();
  });
  if (key) start().catch((error) => { sessionStorage.removeItem(KEY); $("signin").hidden = false; $("app").hidden = true; showError(error); });
})();
