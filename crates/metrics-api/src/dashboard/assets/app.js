// The dashboard's views: runs, series, one series. All data comes from the
// JSON API; the bearer token lives in sessionStorage (or localStorage when
// "remember" is ticked) and travels only in the Authorization header.
"use strict";
(function () {
  const C = window.BykiltChart;
  const TOKEN_KEY = "bykilt-token";
  const POLL_MS = 1500;
  const LINE_CAP = 8;
  const RANGES = { "5m": 300, "1h": 3600, "24h": 86400, "7d": 604800, run: null };
  let timer = null;
  // Kept across the re-renders of live polling: open number tables, zooms.
  const openTables = new Set();
  const zooms = new Map();
  let generation = 0;

  const $ = (sel, root) => (root || document).querySelector(sel);
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") { e.className = v; } else if (k.startsWith("on")) { e[k] = v; } else { e.setAttribute(k, v); }
    }
    for (const k of kids) { if (k !== null && k !== undefined) { e.append(k); } }
    return e;
  }

  function token() { return sessionStorage.getItem(TOKEN_KEY) || localStorage.getItem(TOKEN_KEY) || ""; }
  // Every time on the page is UTC; so is when it was last read.
  const updatedAt = () => "updated " + new Date().toISOString().slice(11, 19) + " UTC";
  function setStatus(text, error) { const s = $("#status"); s.textContent = text; s.className = error ? "error" : ""; }

  // Whether the server takes this page's token, asked of the one route
  // open to everyone: without it, the page asks for the token instead of
  // sending requests the server must refuse. Asked again when the token
  // changes or a request is refused.
  let authorized = false;
  async function checkToken() {
    if (authorized) { return; }
    const headers = { Accept: "application/json" };
    const t = token();
    if (t) { headers.Authorization = "Bearer " + t; }
    const r = await fetch("/api/auth", { headers });
    const body = r.ok ? await r.json() : { token_required: false, authorized: true };
    if (body.token_required && !body.authorized) {
      throw new Error(t ? "the server refused this bearer token: enter it again above" : "the server wants a bearer token: enter it above");
    }
    authorized = true;
  }

  async function api(path) {
    const headers = { Accept: "application/json" };
    const t = token();
    if (t) { headers.Authorization = "Bearer " + t; }
    const r = await fetch(path, { headers });
    if (r.status === 401) { authorized = false; throw new Error("the server wants a bearer token: enter it above"); }
    const body = await r.json();
    if (!r.ok) { throw new Error(body.error || ("HTTP " + r.status)); }
    return body;
  }

  const withUnit = (label, unit) => unit ? label + " (" + unit + ")" : label;
  const tagKey = (tags) => Object.keys(tags).sort().map((k) => k + "=" + tags[k]).join(", ");
  // Per key: "k=v" when every tag set agrees, else "k: v1, v2, ...".
  function tagSummary(sets) {
    const keys = new Map();
    for (const t of sets) { for (const [k, v] of Object.entries(t)) { (keys.get(k) || keys.set(k, new Set()).get(k)).add(v); } }
    return [...keys.keys()].sort().map((k) => {
      const vals = [...keys.get(k)];
      return vals.length === 1 ? k + "=" + vals[0] : k + ": " + vals.slice(0, 6).join(", ") + (vals.length > 6 ? ", +" + (vals.length - 6) : "");
    });
  }
  const tagChips = (tags) => el("span", {}, ...Object.keys(tags).sort().map((k) => el("span", { class: "chip" }, k + "=" + tags[k])));
  function fmtSecs(s) {
    if (s === null || s === undefined || !isFinite(s)) { return "–"; }
    if (s < 60) { return s.toFixed(1) + " s"; }
    if (s < 3600) { return Math.floor(s / 60) + " m " + Math.round(s % 60) + " s"; }
    return Math.floor(s / 3600) + " h " + Math.round((s % 3600) / 60) + " m";
  }

  // Every chart gets a "numbers" toggle: a table with what it shows.
  function withTable(box, caption, head, rows) {
    const btn = el("button", { type: "button", class: "table-toggle", "aria-expanded": "false" }, "Show numbers");
    const holder = el("div", { class: "data-table", hidden: "" });
    const toggle = (open) => {
      holder.hidden = !open;
      if (open) { openTables.add(caption); } else { openTables.delete(caption); }
      btn.setAttribute("aria-expanded", String(open));
      btn.textContent = open ? "Hide numbers" : "Show numbers";
      if (open && !holder.firstChild) {
        holder.append(el("table", {}, el("caption", { class: "note" }, caption),
          el("thead", {}, el("tr", {}, ...head.map((h) => el("th", {}, h)))),
          el("tbody", {}, ...rows.map((r) => el("tr", {}, ...r.map((c) => el("td", {}, String(c))))))));
      }
    };
    btn.onclick = () => toggle(holder.hidden);
    box.append(btn, holder);
    if (openTables.has(caption)) { toggle(true); }
  }

  function poll(fn) {
    clearTimeout(timer);
    const mine = generation;
    timer = setTimeout(() => { if (mine === generation) { fn(); } }, POLL_MS);
  }

  // ---- runs view ----
  function progressBar(r) {
    const pct = (n) => (r.total ? (100 * n) / r.total : 0) + "%";
    return el("div", { class: "bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": String(r.total), "aria-valuenow": String(r.finished) },
      el("span", { class: "done", style: "width:" + pct(r.completed) }),
      el("span", { class: "failed", style: "width:" + pct(r.failed) }),
      el("span", { class: "running", style: "width:" + pct(r.running) }));
  }

  // Jobs finished per second of run wall time (the processes that ran them),
  // the figure `bykilt batch status` prints; not over `duration`.
  const THROUGHPUT_MEANS = "jobs finished per second of run wall time";
  const rate = (r) => typeof r.throughput_per_second === "number" ? r.throughput_per_second.toFixed(2) + " jobs/s" : "–";
  const eta = (r) => r.eta_seconds !== null && r.eta_seconds !== undefined ? fmtSecs(r.eta_seconds) : "–";

  // The alerts of the evaluator beside the server (`--alerts`), newest change first.
  function alertsSection(alerts) {
    if (alerts.error) { return el("p", { class: "note error", id: "alerts-error" }, "Alerts unavailable: " + alerts.error); }
    if (!alerts.length) { return el("p", { class: "note", id: "alerts-none" }, "No alerts held (the server evaluates rules with --alerts FILE)."); }
    const cls = { firing: "bad", pending: "warn", resolved: "ok" };
    const labelText = (labels) => Object.entries(labels).filter(([k]) => k !== "alertname").map(([k, v]) => k + "=" + v).join(", ");
    const rows = alerts.slice().sort((a, b) => (a.since < b.since ? 1 : -1)).map((a) => el("tr", { "data-alert": a.name },
      el("td", { class: "alert-name" }, a.name),
      el("td", { class: "alert-state" }, el("span", { class: "badge " + (cls[a.state] || "") }, a.state)),
      el("td", { class: "alert-since" }, C.fmtStamp(Date.parse(a.since) / 1000), el("span", { class: "note" }, " (" + a.since + ")")),
      el("td", { class: "alert-labels" }, labelText(a.labels)),
      el("td", { class: "num alert-value" }, a.value === null ? "–" : String(a.value))));
    return el("div", { class: "scroll" }, el("table", { id: "alerts-table" },
      el("thead", {}, el("tr", {}, el("th", {}, "alert"), el("th", {}, "state"), el("th", {}, "since"), el("th", {}, "labels"), el("th", { class: "num" }, "value"))),
      el("tbody", {}, ...rows)));
  }

  async function runsView(view) {
    const [runs, alerts] = await Promise.all([api("/api/runs"), api("/api/alerts").catch((e) => ({ error: e.message }))]);
    const live = runs.some((r) => r.live) || (Array.isArray(alerts) && alerts.length > 0);
    // A run without a batch manifest (imported) has null job counts: its
    // jobs are unknown, so it shows none rather than "0 / 0".
    const count = (n) => (typeof n === "number" ? String(n) : "–");
    const rows = runs.slice().reverse().map((r) => el("tr", { "data-run-id": r.run_id },
      el("td", {}, r.run_id, " ", r.live ? el("span", { class: "badge warn" }, "live") : null, r.served ? el("span", { class: "badge" }, "served") : null,
        r.interrupted ? el("span", { class: "badge bad", title: "the process running them ended before they finished; batch resume runs them again" }, r.interrupted + " interrupted") : null),
      el("td", { class: "num count-completed ok" }, count(r.completed)),
      el("td", { class: "num count-failed bad" }, count(r.failed)),
      el("td", { class: "num count-running warn" }, count(r.running)),
      el("td", { class: "num hide-narrow count-pending" }, count(r.pending)),
      el("td", {}, typeof r.total === "number" ? progressBar(r) : null,
        typeof r.total === "number" ? el("span", { class: "note" }, r.finished + " / " + r.total) : el("span", { class: "note no-jobs" }, "no job counts (no batch manifest)"),
        el("div", { class: "show-narrow note" }, fmtSecs(r.duration_seconds) + " · " + rate(r) + (r.live ? " · ETA " + eta(r) : ""))),
      el("td", { class: "num duration hide-narrow" }, fmtSecs(r.duration_seconds)),
      el("td", { class: "num throughput hide-narrow" }, rate(r)),
      el("td", { class: "num eta hide-narrow" }, r.live ? eta(r) : "–")));
    view.replaceChildren(
      el("h2", {}, "Runs"),
      runs.length ? el("div", { class: "scroll" }, el("table", { id: "runs-table" },
        el("thead", {}, el("tr", {}, el("th", {}, "run"), el("th", { class: "num" }, "completed"), el("th", { class: "num" }, "failed"),
          el("th", { class: "num" }, "running"), el("th", { class: "num hide-narrow" }, "pending"), el("th", {}, "progress"),
          el("th", { class: "num hide-narrow" }, "duration"), el("th", { class: "num hide-narrow", title: THROUGHPUT_MEANS }, "throughput"), el("th", { class: "num hide-narrow" }, "ETA"))),
        el("tbody", {}, ...rows))) : el("p", { class: "note" }, "No runs yet."),
      runs.length ? el("p", { class: "note", id: "runs-legend" }, "duration: first job start to last completion; throughput: " + THROUGHPUT_MEANS +
        " (of the processes that ran the batch, every run summed, as `bykilt batch status` reports it).") : "",
      el("h2", {}, "Alerts"),
      alertsSection(alerts));
    setStatus(live ? "live: updating every " + POLL_MS / 1000 + " s" : updatedAt());
    if (live) { poll(() => show()); }
  }

  // ---- series view ----
  // The newest sample's value, or where no sample is kept the aggregate the
  // server gives (a counter's total, a gauge's value, a histogram's sum),
  // named so; a gauge of several tag sets without samples shows their range.
  function lastText(s) {
    const u = s.unit ? " " + s.unit : "";
    if (s.last) { return C.fmtNum(s.last.value) + u + (s.last.aggregate ? " (" + s.last.aggregate + ")" : ""); }
    const xs = s.tag_sets.map((t) => t.last).filter((v) => v).map((v) => v.value);
    if (!xs.length) { return "–"; }
    return C.fmtNum(Math.min(...xs)) + " – " + C.fmtNum(Math.max(...xs)) + u + " (" + xs.length + " tag sets)";
  }

  // The sparkline's text alternative: the values it draws.
  function sparkText(s) {
    if (!s.sparkline.length) { return s.name + ": no samples kept"; }
    return s.name + ", newest " + s.sparkline.length + " values" + (s.unit ? " (" + s.unit + ")" : "") + ", oldest first: " +
      s.sparkline.map((v) => C.fmtNum(v)).join(", ");
  }

  async function seriesView(view) {
    const ov = await api("/api/metrics/overview");
    // Read after the fetch: what was typed meanwhile is in the address.
    const query = new URLSearchParams(location.hash.split("?")[1] || "").get("q");
    const search = el("input", { type: "search", id: "series-search", placeholder: "search names and tags", value: query || "" });
    const tbody = el("tbody", {});
    const fill = () => {
      const q = search.value.trim().toLowerCase();
      tbody.replaceChildren();
      for (const s of ov.series) {
        const text = (s.name + " " + s.tag_sets.map((t) => tagKey(t.tags)).join(" ")).toLowerCase();
        if (q && !text.includes(q)) { continue; }
        const alt = sparkText(s);
        const spark = el("canvas", { class: "spark", role: "img", "aria-label": alt, title: alt });
        const tagText = s.tag_sets.length + " tag set" + (s.tag_sets.length === 1 ? "" : "s");
        tbody.append(el("tr", { "data-series": s.name },
          el("td", {}, el("a", { href: "#/series/" + encodeURIComponent(s.name) }, s.name),
            el("div", { class: "show-narrow note" }, s.type + ", " + tagText)),
          el("td", { class: "hide-narrow" }, s.type),
          el("td", { class: "tags hide-narrow" }, el("span", { class: "note" }, tagText + " "),
            ...tagSummary(s.tag_sets.map((t) => t.tags)).map((c) => el("span", { class: "chip" }, c))),
          el("td", { class: "num" }, lastText(s)),
          el("td", {}, spark)));
        requestAnimationFrame(() => C.sparkline(spark, s.sparkline));
      }
    };
    search.oninput = () => { history.replaceState(null, "", "#/series" + (search.value ? "?q=" + encodeURIComponent(search.value) : "")); fill(); };
    view.replaceChildren(el("h2", {}, "Series"), el("div", { class: "toolbar" }, el("label", { for: "series-search" }, "Search "), search),
      el("div", { class: "scroll" }, el("table", { id: "series-table" },
        el("thead", {}, el("tr", {}, el("th", {}, "name"), el("th", { class: "hide-narrow" }, "type"), el("th", { class: "hide-narrow" }, "tag sets"), el("th", { class: "num" }, "last value"), el("th", {}, "recent"))),
        tbody)));
    fill();
    setStatus(ov.series.length + " series");
  }

  // ---- one series ----
  const pageState = { range: "run", tags: {} };


  async function seriesPage(view, name) {
    const [ov, runs] = await Promise.all([api("/api/metrics/overview"), api("/api/runs")]);
    const info = ov.series.find((s) => s.name === name);
    if (!info) { throw new Error("no series named " + JSON.stringify(name)); }
    const served = runs.find((r) => r.served);
    const params = new URLSearchParams();
    params.set("limit", "100000");
    // A database server keeps every run: "run" asks for the served (newest)
    // run by name, the other ranges span every run. The live server holds
    // one run and counts the "run" range from its first job.
    const db = ov.source === "database";
    let since = RANGES[pageState.range];
    if (db) {
      params.set("run", since === null && served ? served.run_id : "all");
    } else if (since === null && served && served.started_at) {
      since = Math.max(0, ov.now - Date.parse(served.started_at) / 1000 + 1);
    }
    if (since !== null && since !== undefined) { params.set("since_seconds", String(Math.ceil(since))); }
    for (const [k, v] of Object.entries(pageState.tags)) { if (v) { params.append("tag", k + (db ? ":" : "=") + v); } }
    const path = "/api/metrics/series/" + encodeURIComponent(name);
    // The chart model (lines, labels, running totals, units, distribution,
    // percentiles) is built by the server's Rust code, the same that draws
    // `bykilt metrics plot`'s files; this page only paints it.
    const chart = await api(path + "/chart?" + params.toString());
    const summary = await api(path + "/summary?" + new URLSearchParams([...params].filter(([k]) => k !== "limit")).toString());
    const unit = chart.unit;

    // Tag filter: one select per key, values from the series' tag sets.
    const keys = {};
    for (const t of info.tag_sets) { for (const [k, v] of Object.entries(t.tags)) { (keys[k] = keys[k] || new Set()).add(v); } }
    const filters = Object.keys(keys).sort().map((k) => {
      const sel = el("select", { id: "tag-filter-" + k, "data-tag-key": k, "aria-label": "filter " + k },
        el("option", { value: "" }, k + ": any"), ...[...keys[k]].sort().map((v) => el("option", { value: v }, k + "=" + v)));
      sel.value = pageState.tags[k] || "";
      sel.onchange = () => { pageState.tags[k] = sel.value; show(); };
      return sel;
    });
    const rangeButtons = Object.keys(RANGES).map((r) => el("button", { type: "button", class: r === pageState.range ? "on" : "", "data-range": r,
      onclick: () => { pageState.range = r; show(); } }, r));

    const lines = chart.lines;
    const chartBox = el("div", { class: "chart-box" });
    const canvas = el("canvas", { id: "series-chart", role: "img", "aria-label": name + " over time" });
    const legend = el("div", { class: "legend", id: "series-legend" }, ...lines.map((l, i) => el("span", {}, el("i", { style: "background:" + C.color(i) }), l.label + " (" + l.points.length + ")")));
    chartBox.append(canvas, legend);
    withTable(chartBox, name + ": every sample shown", ["time (UTC)", withUnit(chart.cumulative ? "running total" : "value", unit), "tags"],
      lines.flatMap((l) => l.points.map((p) => [C.fmtStamp(p[0]), C.fmtNum(p[1]), l.label])));

    const s = summary.summary;
    // The summary counts every matching sample; the chart holds the newest `limit`.
    const matching = s ? s.count : chart.samples;
    const stat = (label, v, u) => el("div", {}, label, el("b", {}, v === null || v === undefined ? "–" : C.fmtNum(v) + (u ? " " + u : "")));
    const stats = el("div", { class: "stats", id: "series-stats" },
      stat("samples", matching), stat("min", s && s.min, unit), stat("avg", s && s.avg, unit), stat("max", s && s.max, unit),
      stat("p50", s && s.p50, unit), stat("p90", s && s.p90, unit), stat("p99", s && s.p99, unit));

    const hidden = chart.hidden_tag_sets;
    const parts = [el("h2", {}, name, " ", el("span", { class: "badge" }, info.type)),
      info.description ? el("p", { class: "note" }, info.description) : null,
      el("div", { class: "toolbar" }, el("span", { class: "group" }, "range ", ...rangeButtons), el("span", { class: "group" }, ...filters)),
      stats, chartBox,
      el("p", { class: "note" }, matching + " matching samples, " + chart.samples + " shown" + (hidden > 0 ? "; " + hidden + " more tag sets not drawn (filter by tag to see them)" : "") + ". Drag across the chart to zoom, double-click to reset.")];

    if (chart.percentiles.length) {
      const bars = chart.distribution.map((b) => ({ label: b.label, value: b.count }));
      const distBox = el("div", { class: "chart-box" });
      const distCanvas = el("canvas", { id: "bucket-chart", role: "img", "aria-label": name + " bucket distribution" });
      distBox.append(distCanvas);
      withTable(distBox, name + ": samples per bucket", [withUnit("bucket", unit), "samples"], bars.map((b) => [b.label, b.value]));
      const pl = chart.percentiles;
      const pctBox = el("div", { class: "chart-box" });
      const pctCanvas = el("canvas", { id: "percentile-chart", role: "img", "aria-label": name + " p50, p90, p99 over time" });
      pctBox.append(pctCanvas, el("div", { class: "legend" }, ...pl.map((l, i) => el("span", {}, el("i", { style: "background:" + C.color(i) }), l.label))));
      withTable(pctBox, name + ": percentiles per time window", ["window middle (UTC)", withUnit("p50", unit), withUnit("p90", unit), withUnit("p99", unit)],
        pl[0].points.map((p, i) => [C.fmtStamp(p[0]), C.fmtNum(p[1]), C.fmtNum(pl[1].points[i][1]), C.fmtNum(pl[2].points[i][1])]));
      parts.push(el("h3", {}, "Bucket distribution"), distBox, el("h3", {}, "p50 / p90 / p99 over time"), pctBox);
      view.replaceChildren(...parts.filter(Boolean));
      C.barChart(distCanvas, { bars, xLabel: chart.distribution_label, yLabel: "samples" });
      C.timeChart(pctCanvas, { lines: pl, yLabel: withUnit("value", unit), unit, zoom: zooms.get(name + "/pct"), onZoom: (z) => zooms.set(name + "/pct", z) });
    } else {
      view.replaceChildren(...parts.filter(Boolean));
    }
    C.timeChart(canvas, { lines, yLabel: chart.y_label, unit, zoom: zooms.get(name), onZoom: (z) => zooms.set(name, z) });
    setStatus(served && served.live ? "live: updating every " + POLL_MS / 1000 + " s" : updatedAt());
    if (served && served.live) { poll(() => show()); }
  }

  // ---- routing ----
  async function show() {
    generation++;
    clearTimeout(timer);
    const hash = location.hash || "#/runs";
    const view = $("#view");
    const [route] = hash.slice(1).split("?");
    for (const a of document.querySelectorAll("nav a")) { a.classList.toggle("active", route.startsWith(a.getAttribute("href").slice(1))); }
    try {
      await checkToken();
      if (route.startsWith("/series/")) {
        await seriesPage(view, decodeURIComponent(route.slice("/series/".length)));
      } else if (route === "/series") {
        await seriesView(view);
      } else {
        await runsView(view);
      }
    } catch (e) {
      setStatus(e.message, true);
    }
  }

  let lastRoute = null;
  window.addEventListener("hashchange", () => {
    const route = location.hash.split("?")[0];
    if (route !== lastRoute) { pageState.tags = {}; pageState.range = "run"; lastRoute = route; }
    if (!/^#\/series\?/.test(location.hash)) { show(); }
  });
  $("#token-form").onsubmit = (e) => {
    e.preventDefault();
    const t = $("#token-input").value.trim();
    sessionStorage.removeItem(TOKEN_KEY); localStorage.removeItem(TOKEN_KEY);
    if (t) { ($("#token-remember").checked ? localStorage : sessionStorage).setItem(TOKEN_KEY, t); }
    $("#token-input").value = "";
    authorized = false;
    show();
  };
  $("#token-clear").onclick = () => { sessionStorage.removeItem(TOKEN_KEY); localStorage.removeItem(TOKEN_KEY); authorized = false; show(); };
  $("#token-input").placeholder = token() ? "token set" : "bearer token";
  let resizeTimer = null;
  let lastWidth = window.innerWidth;
  window.addEventListener("resize", () => {
    if (window.innerWidth === lastWidth) { return; }
    lastWidth = window.innerWidth;
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(show, 150);
  });
  lastRoute = location.hash.split("?")[0];
  show();
})();
