/* gridlink command-centre dashboard: draws /dashboard/data with ECharts, live over SSE.
 * window.gridlinkDashboard exposes {charts, figures, loads} for tests. */
(function () {
  "use strict";
  const body = document.body;
  const labels = JSON.parse(document.getElementById("labels").textContent);
  const wall = body.dataset.wall === "true";
  const state = { area: body.dataset.area, charts: {}, figures: null, loads: 0, alarms: [] };
  window.gridlinkDashboard = state;
  const PALETTE = ["#4fc3f7", "#ffb74d", "#81c784", "#e57373", "#ba68c8", "#fff176",
                   "#4db6ac", "#f06292", "#90a4ae"];
  const AXIS = { axisLabel: { color: "#dfe8f5" }, axisLine: { lineStyle: { color: "#5c7aa3" } } };
  const name = (map, key) => map[key] || key;
  const pct = (v) => (v === null || v === undefined ? null : Math.round(v * 1000) / 10);

  function chart(id, option) {
    const el = document.getElementById("chart-" + id);
    if (!state.charts[id]) state.charts[id] = echarts.init(el, null, { renderer: "canvas" });
    state.charts[id].setOption(Object.assign({ animation: false, color: PALETTE,
      textStyle: { color: "#dfe8f5" }, tooltip: { trigger: "axis" } }, option), true);
  }
  function show(figure, value) {
    document.querySelectorAll('[data-figure="' + figure + '"]').forEach((el) => {
      el.textContent = value === null || value === undefined ? "—" : String(value);
    });
  }

  function drawToday(d) {
    const t = d.today;
    show("today_total", t.by_status.reduce((s, r) => s + r.events, 0));
    show("new_24h", t.new_24h); show("overdue", t.overdue.length);
    show("open_alarms", t.open_alarms);
    chart("status", { tooltip: { trigger: "item" }, series: [{ type: "pie", radius: ["35%", "70%"],
      label: { position: "inside", color: "#0b1a2e", fontSize: 14, formatter: "{b}\n{c}" },
      data: t.by_status.map((r) => ({ name: name(labels.status, r.status), value: r.events })) }] });
    const rows = document.getElementById("overdue-rows");
    rows.replaceChildren(...t.overdue.slice(0, 12).map((o) => {
      const tr = document.createElement("tr");
      [String(o.id), o.grid_name || o.grid_code, o.unit || "", String(o.hours)].forEach((v) => {
        const td = document.createElement("td"); td.textContent = v; tr.appendChild(td); });
      return tr; }));
  }

  function drawTrend(d) {
    const tr = d.trend, days = tr.days;
    const cats = [...new Set(tr.by_day_category.map((r) => r.category))].sort();
    chart("categories", { legend: { top: 0, right: 0, textStyle: { color: "#dfe8f5" } }, grid: { top: 40, bottom: 30 },
      xAxis: Object.assign({ type: "category", data: days.map((x) => x.slice(5)) }, AXIS),
      yAxis: Object.assign({ type: "value", minInterval: 1 }, AXIS),
      series: cats.map((c) => ({ name: name(labels.category, c), type: "bar", stack: "all", data: days.map((day) =>
        tr.by_day_category.filter((r) => r.day === day && r.category === c)
          .reduce((s, r) => s + r.events, 0)) })) });
    chart("units", { grid: { left: 110, bottom: 30 },
      yAxis: Object.assign({ type: "category", data: tr.by_unit.map((u) => u.name) }, AXIS),
      xAxis: Object.assign({ type: "value", minInterval: 1 }, AXIS),
      series: [{ type: "bar", data: tr.by_unit.map((u) => u.events),
        label: { show: true, position: "right", color: "#dfe8f5" } }] });
    chart("rates", { legend: { top: 0, right: 0, textStyle: { color: "#dfe8f5" } }, grid: { top: 40, bottom: 30 },
      xAxis: Object.assign({ type: "category", data: days.map((x) => x.slice(5)) }, AXIS),
      yAxis: Object.assign({ type: "value", max: 100, axisLabel: { formatter: "{value}%",
        color: "#dfe8f5" } }),
      series: [
        { name: "处置率", type: "line", connectNulls: true, data: tr.rates.map((r) => pct(r.handling_rate)) },
        { name: "按期结案率", type: "line", connectNulls: true, data: tr.rates.map((r) => pct(r.on_time_rate)) }] });
  }

  function band(score) {
    if (score === null) return ["无应结案", "#607d8b"];
    const b = labels.bands.find((x) => score >= x[0]) || labels.bands[labels.bands.length - 1];
    return [b[1], b[2]];
  }

  function drawRanking(d) {
    const units = d.ranking.units.slice().reverse();
    chart("ranking", { grid: { left: 120, bottom: 30 }, tooltip: { trigger: "item" },
      yAxis: Object.assign({ type: "category", data: units.map((u) => u.name || u.unit) }, AXIS),
      xAxis: Object.assign({ type: "value", max: 100 }, AXIS),
      series: [{ type: "bar", data: units.map((u) => ({ value: u.score,
        itemStyle: { color: band(u.score)[1] }, name: band(u.score)[0] })),
        label: { show: true, position: "right", color: "#dfe8f5",
          formatter: (p) => (p.value === null || p.value === undefined ? "—" : p.value + " " + p.name) } }] });
  }

  function drawCameras(d) {
    const c = d.cameras, units = [...new Map(c.by_unit.map((r) => [r.unit, r.name])).entries()];
    const statuses = [...new Set(c.by_unit.map((r) => r.status))].sort();
    const colour = { online: "#66bb6a", offline: "#90a4ae", fault: "#ef5350" };
    chart("cameras", { legend: { top: 0, right: 0, textStyle: { color: "#dfe8f5" } }, grid: { top: 40, left: 110 },
      yAxis: Object.assign({ type: "category", data: units.map((u) => u[1]) }, AXIS),
      xAxis: Object.assign({ type: "value", minInterval: 1 }, AXIS),
      series: statuses.map((s) => ({ name: name(labels.camera, s), type: "bar", stack: "cams",
        itemStyle: colour[s] ? { color: colour[s] } : {},
        data: units.map((u) => c.by_unit.filter((r) => r.unit === u[0] && r.status === s)
          .reduce((n, r) => n + r.cameras, 0)) })) });
    const list = document.getElementById("blind-grids");
    list.replaceChildren(...c.grids_without_camera.map((g) => {
      const li = document.createElement("li"); li.textContent = g.name + " " + g.code; return li; }));
  }

  function drawAlarms(d) {
    const a = d.alarms;
    show("alarm_median_min", a.median_min); show("alarm_p90_min", a.p90_min);
    show("view_median_min", a.view_median_min); show("view_p90_min", a.view_p90_min);
    chart("alarm_response", { legend: { top: 0, right: 0, textStyle: { color: "#dfe8f5" } },
      grid: { top: 40, bottom: 30 },
      xAxis: Object.assign({ type: "category", data: a.buckets.map((b) => b.label) }, AXIS),
      yAxis: Object.assign({ type: "value", minInterval: 1 }, AXIS),
      series: [
        { name: "至派遣", type: "bar", data: a.buckets.map((b) => b.alarms), itemStyle: { color: "#ef5350" } },
        { name: "至首次调看视频", type: "bar", data: a.buckets.map((b) => b.viewed), itemStyle: { color: "#4fc3f7" } }] });
  }

  function drawHeat(d) {
    const h = d.heat, max = Math.max(1, ...h.cells.map((c) => c.events));
    const seq = (n) => Array.from({ length: n }, (_, i) => i);
    chart("heat", { tooltip: { trigger: "item" }, grid: { top: 10, bottom: 10, left: 10, right: 10 },
      xAxis: { type: "category", data: seq(h.size[0]), show: false },
      yAxis: { type: "category", data: seq(h.size[1]), show: false },
      visualMap: { show: false, min: 0, max: max, inRange: { color: ["#1b3a66", "#ffeb3b", "#e53935"] } },
      series: [{ type: "heatmap", data: h.cells.map((c) => [c.x, c.y, c.events]) }] });
    const link = document.getElementById("heat-link");
    if (link) link.href = "/maps/events?area=" + encodeURIComponent(d.scope.code) +
      "&start=" + encodeURIComponent(h.since) + "&end=" + encodeURIComponent(d.now);
  }

  function draw(d) {
    state.figures = d;
    document.getElementById("scope-name").textContent = d.scope.name;
    document.getElementById("now").textContent = d.now.slice(0, 19).replace("T", " ");
    document.querySelectorAll("a[data-panel]").forEach((a) => {
      a.href = "/dashboard/csv/" + a.dataset.panel + "?area=" + encodeURIComponent(d.scope.code) +
        "&at=" + encodeURIComponent(d.now); });
    drawToday(d); drawTrend(d); drawRanking(d); drawCameras(d); drawAlarms(d); drawHeat(d);
    state.loads += 1;
    body.dataset.loaded = String(state.loads);
  }

  async function load() {
    const at = body.dataset.at ? "&at=" + encodeURIComponent(body.dataset.at) : "";
    const r = await fetch("/dashboard/data?area=" + encodeURIComponent(state.area) + at);
    if (!r.ok) throw new Error("dashboard data: HTTP " + r.status);
    draw(await r.json());
  }

  function toast(text) {
    const el = document.getElementById("toast");
    el.textContent = text; el.classList.add("on");
    setTimeout(() => el.classList.remove("on"), 8000);
  }

  function live() {
    if (!body.dataset.stream) { setInterval(load, 30000); return; }
    const source = new EventSource(body.dataset.stream);
    state.source = source;
    source.addEventListener("alarm", (e) => {
      const a = JSON.parse(e.data);
      if (!(a.grid && a.grid.code && a.grid.code.startsWith(state.area))) return;
      state.alarms.push(a);
      toast("新报警 #" + a.event_id + (a.grid && a.grid.name ? " · " + a.grid.name : ""));
      load();
    });
    source.onerror = () => { if (source.readyState === EventSource.CLOSED) source.close(); };
    setInterval(load, 60000);  // cases become overdue without any write
  }

  function cycle() {
    const seconds = Number(body.dataset.cycleS) || 30;
    setInterval(() => {
      const scopes = (state.figures && state.figures.cycle) || [];
      const i = scopes.findIndex((s) => s.code === state.area);
      if (scopes.length > 1) { state.area = scopes[(i + 1) % scopes.length].code; load(); }
    }, seconds * 1000);
  }

  window.addEventListener("resize", () => Object.values(state.charts).forEach((c) => c.resize()));
  load().then(() => { live(); if (wall) cycle(); });
})();
