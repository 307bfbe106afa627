// A compact canvas chart module of our own: time-series lines (hover
// values, drag to zoom, double-click to reset), bars and sparklines.
// One draw pass per frame; no DOM per point.
"use strict";
(function () {
  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  const color = (i) => css("--c" + (i % 8));

  function setup(canvas) {
    const ratio = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 300, h = canvas.clientHeight || 150;
    canvas.width = Math.round(w * ratio);
    canvas.height = Math.round(h * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, w, h);
    return { ctx, w, h };
  }

  // Round tick steps (1, 2, 5 x 10^n) so labels are readable.
  function ticks(lo, hi, count) {
    if (!(hi > lo)) { hi = lo + 1; }
    const raw = (hi - lo) / count;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) { out.push(v); }
    return out;
  }

  function fmtNum(v) {
    if (!isFinite(v)) { return String(v); }
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) { return v.toExponential(2); }
    return Number(v.toPrecision(4)).toString();
  }

  // Axis ticks in UTC, like the tooltips and the number tables (fmtStamp),
  // so a time reads the same wherever it is shown.
  function fmtTime(t, span) {
    const d = new Date(t * 1000);
    const p = (n) => String(n).padStart(2, "0");
    let hms = p(d.getUTCHours()) + ":" + p(d.getUTCMinutes()) + (span < 3600 ? ":" + p(d.getUTCSeconds()) : "");
    if (span < 30) { hms += "." + Math.floor(d.getUTCMilliseconds() / 100); }
    return span > 86400 ? (d.getUTCMonth() + 1) + "/" + d.getUTCDate() + " " + hms : hms;
  }

  function fmtStamp(t) {
    return new Date(t * 1000).toISOString().replace("T", " ").replace("Z", " UTC");
  }

  function axes(ctx, box, xs, ys, xFmt, yLabel, xLabel) {
    ctx.strokeStyle = css("--line");
    ctx.fillStyle = css("--muted");
    ctx.lineWidth = 1;
    ctx.font = "11px system-ui, sans-serif";
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const v of ys.ticks) {
      const y = ys.map(v);
      ctx.beginPath(); ctx.moveTo(box.l, y); ctx.lineTo(box.r, y); ctx.stroke();
      ctx.fillText(fmtNum(v), box.l - 4, y);
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    // A tick label is centred on its tick but kept inside the canvas: the
    // last one near the right edge would otherwise be cut off. Where each
    // label went is kept on the canvas (`data-x-ticks`) for checks.
    const drawn = [];
    for (const v of xs.ticks) {
      const x = xs.map(v);
      ctx.beginPath(); ctx.moveTo(x, box.b); ctx.lineTo(x, box.b + 4); ctx.stroke();
      const text = xFmt(v), half = ctx.measureText(text).width / 2;
      const at = Math.max(half + 1, Math.min(box.w - half - 1, x));
      ctx.fillText(text, at, box.b + 6);
      drawn.push({ t: v, text, left: at - half, right: at + half });
    }
    ctx.canvas.dataset.xTicks = JSON.stringify(drawn);
    ctx.canvas.dataset.xTicksWidth = String(box.w);
    ctx.strokeStyle = css("--muted");
    ctx.beginPath(); ctx.moveTo(box.l, box.t); ctx.lineTo(box.l, box.b); ctx.lineTo(box.r, box.b); ctx.stroke();
    ctx.fillText(xLabel, (box.l + box.r) / 2, box.b + 22);
    ctx.save();
    ctx.translate(12, (box.t + box.b) / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textBaseline = "middle";
    ctx.fillText(yLabel, 0, 0);
    ctx.restore();
  }

  function scale(lo, hi, a, b, n) {
    const span = hi - lo || 1;
    return { lo, hi, ticks: ticks(lo, hi, n), map: (v) => a + ((v - lo) / span) * (b - a) };
  }

  // opts: { lines: [{label, tags, points: [[t, v], ...]}], yLabel, xLabel, tooltip }
  function timeChart(canvas, opts) {
    const state = { zoom: opts.zoom || null, drag: null, hover: null };
    const zoomed = (z) => { state.zoom = z; if (opts.onZoom) { opts.onZoom(z); } draw(); };
    const all = opts.lines.flatMap((l) => l.points);
    function extent() {
      if (state.zoom) { return state.zoom; }
      let lo = Infinity, hi = -Infinity;
      for (const p of all) { if (p[0] < lo) { lo = p[0]; } if (p[0] > hi) { hi = p[0]; } }
      if (!isFinite(lo)) { const now = Date.now() / 1000; return [now - 60, now]; }
      if (hi === lo) { return [lo - 1, hi + 1]; }
      const pad = (hi - lo) * 0.02;
      return [lo - pad, hi + pad];
    }
    function draw() {
      const { ctx, w, h } = setup(canvas);
      const box = { l: 62, r: w - 12, t: 10, b: h - 40, w };
      const [x0, x1] = extent();
      let lo = Infinity, hi = -Infinity;
      for (const p of all) {
        if (p[0] >= x0 && p[0] <= x1) { if (p[1] < lo) { lo = p[1]; } if (p[1] > hi) { hi = p[1]; } }
      }
      if (!isFinite(lo)) { lo = 0; hi = 1; }
      if (lo > 0 && lo < hi * 0.5) { lo = 0; }
      if (hi === lo) { hi = lo + Math.max(1, Math.abs(lo) * 0.1); }
      const xs = scale(x0, x1, box.l, box.r, Math.max(2, Math.floor((box.r - box.l) / 90)));
      const ys = scale(lo, hi, box.b, box.t, 5);
      axes(ctx, box, xs, ys, (t) => fmtTime(t, x1 - x0), opts.yLabel, opts.xLabel || "time (UTC)");
      ctx.save();
      ctx.beginPath(); ctx.rect(box.l, box.t - 2, box.r - box.l, box.b - box.t + 4); ctx.clip();
      opts.lines.forEach((line, i) => {
        ctx.strokeStyle = color(i);
        ctx.fillStyle = color(i);
        ctx.lineWidth = 1.6;
        ctx.beginPath();
        let started = false;
        for (const p of line.points) {
          const x = xs.map(p[0]), y = ys.map(p[1]);
          if (started) { ctx.lineTo(x, y); } else { ctx.moveTo(x, y); started = true; }
        }
        ctx.stroke();
        if (line.points.length < 80) {
          for (const p of line.points) { ctx.fillRect(xs.map(p[0]) - 1.5, ys.map(p[1]) - 1.5, 3, 3); }
        }
      });
      ctx.restore();
      if (state.drag) {
        ctx.fillStyle = css("--accent");
        ctx.globalAlpha = 0.15;
        const a = Math.min(state.drag[0], state.drag[1]), b = Math.max(state.drag[0], state.drag[1]);
        ctx.fillRect(a, box.t, b - a, box.b - box.t);
        ctx.globalAlpha = 1;
      }
      if (state.hover) {
        const p = state.hover;
        ctx.strokeStyle = css("--muted");
        ctx.beginPath(); ctx.arc(xs.map(p.point[0]), ys.map(p.point[1]), 4, 0, 2 * Math.PI); ctx.stroke();
      }
      state.box = box; state.xs = xs; state.ys = ys;
    }
    function nearest(mx, my) {
      let best = null, bestD = 400;
      opts.lines.forEach((line, i) => {
        for (const p of line.points) {
          const dx = state.xs.map(p[0]) - mx, dy = state.ys.map(p[1]) - my;
          const d = dx * dx + dy * dy;
          if (d < bestD) { bestD = d; best = { line: i, point: p }; }
        }
      });
      return best;
    }
    const pos = (e) => { const r = canvas.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
    canvas.onmousedown = (e) => { const [x] = pos(e); state.drag = [x, x]; };
    canvas.onmousemove = (e) => {
      const [x, y] = pos(e);
      if (state.drag) { state.drag[1] = x; draw(); return; }
      state.hover = nearest(x, y);
      draw();
      const tip = document.getElementById("tooltip");
      if (state.hover && tip) {
        const line = opts.lines[state.hover.line];
        tip.textContent = "";
        const b = document.createElement("b");
        b.textContent = fmtNum(state.hover.point[1]) + (opts.unit ? " " + opts.unit : "");
        tip.append(b, document.createElement("br"), fmtStamp(state.hover.point[0]), document.createElement("br"), line.label);
        tip.hidden = false;
        tip.style.left = Math.min(e.clientX + 12, window.innerWidth - 260) + "px";
        tip.style.top = (e.clientY + 12) + "px";
      } else if (tip) { tip.hidden = true; }
    };
    canvas.onmouseleave = () => { state.hover = null; const tip = document.getElementById("tooltip"); if (tip) { tip.hidden = true; } draw(); };
    canvas.onmouseup = () => {
      const d = state.drag; state.drag = null;
      if (d && Math.abs(d[1] - d[0]) > 5) {
        const inv = (x) => state.xs.lo + ((x - state.box.l) / (state.box.r - state.box.l)) * (state.xs.hi - state.xs.lo);
        zoomed([inv(Math.min(d[0], d[1])), inv(Math.max(d[0], d[1]))]);
      } else { draw(); }
    };
    canvas.ondblclick = () => zoomed(null);
    canvas.title = "drag to zoom, double-click to reset";
    draw();
    return { redraw: draw, resetZoom: () => zoomed(null), zoom: () => state.zoom };
  }

  // opts: { bars: [{label, value}], xLabel, yLabel }
  function barChart(canvas, opts) {
    const { ctx, w, h } = setup(canvas);
    const box = { l: 62, r: w - 12, t: 10, b: h - 40, w };
    const max = Math.max(1, ...opts.bars.map((b) => b.value));
    const ys = scale(0, max, box.b, box.t, 5);
    const n = Math.max(1, opts.bars.length);
    const bw = (box.r - box.l) / n;
    const every = Math.max(1, Math.ceil(n / Math.max(1, Math.floor((box.r - box.l) / 60))));
    const xs = { ticks: [], map: (v) => v };
    axes(ctx, box, xs, ys, () => "", opts.yLabel, opts.xLabel);
    ctx.fillStyle = color(0);
    opts.bars.forEach((b, i) => {
      const y = ys.map(b.value);
      ctx.fillRect(box.l + i * bw + 1, y, Math.max(1, bw - 2), box.b - y);
    });
    ctx.fillStyle = css("--muted");
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    opts.bars.forEach((b, i) => { if (i % every === 0) { ctx.fillText(b.label, box.l + (i + 0.5) * bw, box.b + 6); } });
  }

  function sparkline(canvas, values) {
    const { ctx, w, h } = setup(canvas);
    if (!values.length) { return; }
    let lo = Math.min(...values), hi = Math.max(...values);
    if (hi === lo) { lo -= 1; hi += 1; }
    ctx.strokeStyle = color(0);
    ctx.lineWidth = 1.4;
    ctx.beginPath();
    values.forEach((v, i) => {
      const x = values.length === 1 ? w / 2 : 1 + (i / (values.length - 1)) * (w - 2);
      const y = h - 2 - ((v - lo) / (hi - lo)) * (h - 4);
      if (i) { ctx.lineTo(x, y); } else { ctx.moveTo(x, y); }
    });
    ctx.stroke();
    // One value is a flat line across with a dot at its end, not a bare
    // move that paints nothing.
    if (values.length === 1) {
      const y = h / 2;
      ctx.beginPath();
      ctx.moveTo(1, y);
      ctx.lineTo(w - 1, y);
      ctx.stroke();
      ctx.fillStyle = color(0);
      ctx.beginPath();
      ctx.arc(w - 3, y, 2.5, 0, 2 * Math.PI);
      ctx.fill();
    }
  }

  window.BykiltChart = { timeChart, barChart, sparkline, fmtNum, fmtStamp, color };
})();
