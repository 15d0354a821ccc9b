/* The customer portal page. Its link carries the session token in the fragment (#session=…), which
   browsers never send to a server: it is moved to sessionStorage (this tab only) and removed from
   the address bar, then sent as a bearer credential to /portal/api/… . */
"use strict";
(() => {
  const { el, money, number, date, getJSON, table, usageChart } = window.Tally;
  const KEY = "tally.portal.session";
  const $ = (id) => document.getElementById(id);

  function takeToken() {
    const found = new URLSearchParams(location.hash.slice(1)).get("session");
    if (found) {
      sessionStorage.setItem(KEY, found);
      history.replaceState(null, "", location.pathname + location.search);
    }
    return sessionStorage.getItem(KEY);
  }

  function fail(error) {
    $("loading").hidden = true;
    const box = $("error");
    if (error && error.status === 401) {
      box.textContent = "This billing link has expired or is not valid. Go back to the site that sent you here and open your billing page again.";
      sessionStorage.removeItem(KEY);
    } else if (error && error.status === 404) {
      box.textContent = "This invoice is not available.";
    } else {
      box.textContent = "Your billing details could not be loaded. Try again in a moment.";
    }
    box.hidden = false;
    $("main").focus();
  }

  function lines(inv) {
    return table("Invoice lines", [
      { label: "Description", value: (l) => l.description },
      { label: "Quantity", value: (l) => (l.quantity === null || l.quantity === undefined ? "—" : number(l.quantity)), num: true },
      { label: "Amount", value: (l) => money(l.amount, inv.currency), num: true },
    ], inv.lines.data);
  }

  function totals(inv) {
    return el("dl", { class: "figures" },
      el("div", {}, el("dt", { text: "Subtotal" }), el("dd", { text: money(inv.subtotal, inv.currency) })),
      el("div", {}, el("dt", { text: "Total" }), el("dd", { text: money(inv.total, inv.currency) })),
      el("div", {}, el("dt", { text: "Amount due" }), el("dd", { "data-testid": "amount-due", text: money(inv.amount_due, inv.currency) })));
  }

  function renderUsage(usage) {
    const box = $("usage");
    if (!usage.length) { box.append(el("p", { class: "muted", text: "No metered usage on your plan." })); return; }
    usage.forEach((u, i) => {
      const name = u.display_name || u.event_name;
      const canvas = el("canvas", { id: `chart-${i}`, role: "img", "data-meter": u.meter,
        "aria-label": `${name}: ${number(u.total)} used from ${date(u.usage_start, true)} to ${date(u.now, true)}; projected ${number(u.projected)} by ${date(u.period_end)}.` });
      const fig = el("div", { class: "meter", "data-meter": u.meter },
        el("h3", { id: `meter-${i}`, text: name }),
        el("p", { class: "muted", text: `Period ${date(u.period_start)} – ${date(u.period_end)}` }),
        el("dl", { class: "figures" },
          el("div", {}, el("dt", { text: "Used so far" }), el("dd", { "data-testid": "total", text: number(u.total) })),
          el("div", {}, el("dt", { text: "Projected by period end" }), el("dd", { "data-testid": "projected", text: number(u.projected) }))),
        el("div", { class: "chart" }, canvas),
        el("details", {}, el("summary", { text: `${name} per ${u.value_grouping_window} as a table` }),
          table(`${name} per ${u.value_grouping_window}`, [
            { label: "From", value: (s) => date(s.start_time, true) },
            { label: "Usage", value: (s) => number(s.aggregated_value), num: true },
          ], u.summaries)));
      box.append(fig);
      usageChart(canvas, u.summaries, { label: `${name} per ${u.value_grouping_window}`, cumulative: true,
        projection: { from: u.now, to: u.period_end, total: u.total, projected: u.projected } });
    });
  }

  function renderUpcoming(inv) {
    const box = $("upcoming");
    if (!inv) { box.append(el("p", { class: "muted", text: "Nothing is due next." })); return; }
    box.append(el("p", { class: "muted", text: `For ${date(inv.period_start)} – ${date(inv.period_end)}` }), totals(inv), lines(inv));
  }

  function renderInvoices(list) {
    $("invoices").append(table("Invoices", [
      { label: "Number", value: (i) => i.number || i.id },
      { label: "Date", value: (i) => date(i.created) },
      { label: "Status", value: (i) => i.status },
      { label: "Total", value: (i) => money(i.total, i.currency), num: true },
      { label: "Lines", value: (i) => i.lines.data.map((l) => l.description).join("; ") },
      { label: "View", value: (i) => el("a", { href: `/portal?invoice=${encodeURIComponent(i.id)}`, text: `Printable invoice ${i.number || i.id}` }) },
    ], list.data));
  }

  function renderCredits(credits, currency) {
    if (!credits.available) return; // the credits API is not there: the section stays hidden
    const box = $("credits");
    const summary = credits.balance_summary;
    if (summary && summary.balances) {
      box.append(table("Credit balance", [
        { label: "Available", value: (b) => money(b.available_balance.monetary?.value, b.available_balance.monetary?.currency), num: true },
        { label: "Ledger", value: (b) => money(b.ledger_balance.monetary?.value, b.ledger_balance.monetary?.currency), num: true },
      ], summary.balances));
    }
    box.append(table("Credit grants", [
      { label: "Name", value: (g) => g.name || g.id },
      { label: "Amount", value: (g) => money(g.amount?.monetary?.value, g.amount?.monetary?.currency || currency), num: true },
      { label: "Effective", value: (g) => date(g.effective_at) },
      { label: "Expires", value: (g) => (g.expires_at ? date(g.expires_at) : "never") },
    ], credits.grants.data || []));
    $("credits-section").hidden = false;
  }

  async function showInvoice(token, id) {
    const inv = await getJSON(`/portal/api/invoices/${encodeURIComponent(id)}`, token);
    document.title = `Invoice ${inv.number || inv.id} — Tally`;
    $("title").textContent = `Invoice ${inv.number || inv.id}`;
    $("invoice-detail").append(
      el("p", {}, `Billed to ${inv.customer_name || inv.customer_email || inv.customer}`),
      el("p", {}, `Date ${date(inv.created)} · Status ${inv.status} · Period ${date(inv.period_start)} – ${date(inv.period_end)}`),
      lines(inv), totals(inv));
    $("print").addEventListener("click", () => window.print());
    $("loading").hidden = true;
    $("invoice-view").hidden = false;
  }

  async function showPortal(token) {
    const [overview, invoices, credits] = await Promise.all([
      getJSON("/portal/api/overview", token),
      getJSON("/portal/api/invoices", token),
      getJSON("/portal/api/credits", token),
    ]);
    window.Tally.setLocale(overview.locale);
    const c = overview.customer;
    $("title").textContent = `Billing for ${c.name || c.email || c.id}`;
    if (overview.return_url && /^https?:\/\//.test(overview.return_url)) {
      $("return").href = overview.return_url;
      $("return").hidden = false;
    }
    renderUsage(overview.usage);
    renderUpcoming(overview.upcoming_invoice);
    renderInvoices(invoices);
    renderCredits(credits, c.currency);
    $("loading").hidden = true;
    $("portal").hidden = false;
    document.body.dataset.ready = "true";
  }

  async function start() {
    const token = takeToken();
    if (!token) { fail({ status: 401 }); return; }
    const invoice = new URLSearchParams(location.search).get("invoice");
    try {
      await (invoice ? showInvoice(token, invoice) : showPortal(token));
    } catch (error) {
      fail(error);
    }
    document.body.dataset.done = "true";
  }
  start();
})();
