"""The page's inline CSS and the text viewer's JavaScript (no library, no network).

The viewer builds every corpus string with `textContent`/`createTextNode`, never `innerHTML`,
so a text containing markup shows as text. Offsets are code points (Python's), hence
`Array.from(text)` rather than UTF-16 indices.
"""

CSS = """
:root { --ink:#1d1d1d; --muted:#5f5f5f; --line:#d9d9d9; --bg:#fff; --soft:#f5f5f3; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--ink);
       background: var(--bg); margin: 0; }
header { padding: 1.2rem 2rem .6rem; border-bottom: 1px solid var(--line); }
header h1 { margin: 0; font-size: 1.5rem; }
header p { margin: .2rem 0 0; color: var(--muted); }
nav { position: sticky; top: 0; background: #fffffff0; border-bottom: 1px solid var(--line); padding: .4rem 2rem;
      z-index: 5; }
nav a { margin-right: 1rem; color: #2166ac; text-decoration: none; font-size: .9rem; }
main { max-width: 1180px; padding: 0 2rem 4rem; }
section { scroll-margin-top: 2.6rem; padding-top: 1.2rem; border-bottom: 1px solid var(--line); padding-bottom: 1.2rem; }
h2 { font-size: 1.25rem; margin: .3rem 0 .3rem; }
h3 { font-size: 1.02rem; margin: 1rem 0 .4rem; }
p.lead { color: var(--muted); margin-top: 0; }
.note { color: var(--muted); font-size: .9rem; }
.missing { background: #fff7e6; border-left: 4px solid #e08214; padding: .6rem .9rem; margin: .5rem 0; }
.cards { display: flex; gap: 1rem; flex-wrap: wrap; margin: .5rem 0 1rem; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: .7rem 1rem; min-width: 280px; flex: 1; }
.card .big { font-size: 2rem; font-weight: 600; }
.card .what { color: var(--muted); font-size: .9rem; }
.ci { color: var(--muted); font-weight: normal; font-size: .85em; }
figure { margin: .6rem 0; }
figcaption { font-size: .88rem; color: var(--muted); max-width: 900px; }
svg.fig { max-width: 100%; height: auto; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: .6rem 1rem; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 1rem; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .9rem; }
th, td { border-bottom: 1px solid var(--line); padding: .25rem .6rem; text-align: left; vertical-align: top; }
th { font-weight: 600; background: var(--soft); }
table.num td:not(:first-child) { font-variant-numeric: tabular-nums; }
.bar { display: inline-block; position: relative; width: 70px; height: .7em; background: var(--soft);
       vertical-align: middle; margin-left: .3rem; border: 1px solid var(--line); }
.bar .fill { position: absolute; top: 0; bottom: 0; }
.bar .fill.pos { background: #b2182b; }
.bar .fill.neg { background: #2166ac; }
.mono, pre { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: .82rem; }
pre { background: var(--soft); padding: .7rem; overflow-x: auto; white-space: pre-wrap; }
.controls { display: flex; align-items: center; gap: .4rem; margin: .6rem 0; flex-wrap: wrap; }
.controls select { max-width: 760px; font-size: .9rem; padding: .2rem; }
.controls button { font-size: .9rem; padding: .1rem .6rem; }
.meta { font-size: .9rem; color: var(--muted); margin-bottom: .4rem; }
.maps { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: .7rem; }
.map { border: 1px solid var(--line); border-radius: 5px; padding: .5rem .6rem; line-height: 1.9; white-space: pre-wrap; }
.map .head { display: block; font-size: .8rem; color: var(--muted); line-height: 1.3; margin-bottom: .2rem;
             white-space: normal; }
.map .w { padding: .05em .12em; border-radius: 2px; }
.map .w.neg { text-decoration: underline dotted; text-underline-offset: 3px; }
.legend { display: flex; align-items: center; gap: .4rem; font-size: .85rem; margin: .3rem 0; flex-wrap: wrap; }
.lg-bar { display: inline-block; width: 220px; height: 12px; border: 1px solid var(--line); }
.lg-note { color: var(--muted); }
details { margin: .5rem 0; }
summary { cursor: pointer; color: #2166ac; }
.word { font-weight: 600; }
"""

JS = r"""
(function () {
  "use strict";
  var holder = document.getElementById("viewer-data");
  if (!holder) { return; }
  var data = JSON.parse(holder.textContent);
  var stops = data.palette.map(function (h) {
    return [parseInt(h.substr(1, 2), 16), parseInt(h.substr(3, 2), 16), parseInt(h.substr(5, 2), 16)];
  });
  function colour(v, scale) {
    var t = (!scale || v === null || isNaN(v)) ? 0 : Math.max(-1, Math.min(1, v / scale));
    var x = (t + 1) / 2 * (stops.length - 1), i = Math.min(Math.floor(x), stops.length - 2), f = x - i;
    var a = stops[i], b = stops[i + 1];
    return [0, 1, 2].map(function (k) { return Math.round(a[k] + (b[k] - a[k]) * f); });
  }
  function css(rgb) { return "rgb(" + rgb.join(",") + ")"; }
  function inkFor(rgb) {
    var l = (0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]) / 255;
    return l < 0.45 ? "#fff" : "#111";
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function fmt(v) { return v === null || v === undefined ? "–" : (v >= 0 ? "+" : "") + Number(v).toPrecision(3); }
  function plain(v) { return v === null || v === undefined ? "–" : Number(v).toFixed(2); }
  function maxAbs(arrays) {
    var m = 0;
    arrays.forEach(function (a) { (a || []).forEach(function (v) { if (v !== null && Math.abs(v) > m) { m = Math.abs(v); } }); });
    return m;
  }
  // One heatmap: the text itself, each word a coloured span at its code-point offsets.
  function heatmap(target, head, chars, spans, rel, scale) {
    target.textContent = "";
    target.appendChild(el("span", "head", head));
    var pos = 0;
    spans.forEach(function (sp, i) {
      var a = sp[0], b = sp[1];
      if (a < pos) { return; }
      if (a > pos) { target.appendChild(document.createTextNode(chars.slice(pos, a).join(""))); }
      var word = chars.slice(a, b).join(""), v = rel[i];
      var w = el("span", "w" + (v !== null && v < 0 ? " neg" : ""), word);
      var rgb = colour(v, scale);
      w.style.backgroundColor = css(rgb);
      w.style.color = inkFor(rgb);
      w.title = word + ": " + fmt(v);
      w.setAttribute("data-value", v === null ? "" : String(v));
      target.appendChild(w);
      pos = b;
    });
    if (pos < chars.length) { target.appendChild(document.createTextNode(chars.slice(pos).join(""))); }
  }
  var SVGNS = "http://www.w3.org/2000/svg";
  function svgEl(tag, attrs, text) {
    var e = document.createElementNS(SVGNS, tag);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  // Consensus with its spread: the words with the largest |consensus|, each with its band and the seeds' values.
  function spread(target, t, chars, scale) {
    target.textContent = "";
    var c = t.consensus;
    if (!c) { target.appendChild(el("p", "note", "No consensus for this text.")); return; }
    var idx = c.mean.map(function (v, i) { return i; }).filter(function (i) { return c.mean[i] !== null; });
    idx.sort(function (a, b) { return Math.abs(c.mean[b]) - Math.abs(c.mean[a]); });
    idx = idx.slice(0, 12);
    var rowH = 20, left = 150, width = 620, right = width - 20, top = 22, h = top + rowH * idx.length + 28;
    var lo = -scale, hi = scale;
    idx.forEach(function (i) {
      [c.lo[i], c.hi[i]].forEach(function (v) { if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); } });
    });
    function X(v) { return left + (v - lo) / ((hi - lo) || 1) * (right - left); }
    var s = svgEl("svg", { viewBox: "0 0 " + width + " " + h, width: width, height: h, "class": "fig",
                           role: "img", "font-family": "sans-serif", "font-size": "11" });
    s.appendChild(svgEl("title", {}, "consensus relevance of the strongest words with their spread over seeds"));
    s.appendChild(svgEl("line", { x1: X(0), x2: X(0), y1: top - 6, y2: h - 26, stroke: "#999" }));
    s.appendChild(svgEl("text", { x: X(0), y: top - 10, "text-anchor": "middle", fill: "#555" }, "0"));
    s.appendChild(svgEl("text", { x: left, y: h - 8, fill: "#555" }, fmt(lo)));
    s.appendChild(svgEl("text", { x: right, y: h - 8, "text-anchor": "end", fill: "#555" }, fmt(hi)));
    idx.forEach(function (i, r) {
      var y = top + r * rowH + rowH / 2, sp = t.spans[i];
      var word = sp ? chars.slice(sp[0], sp[1]).join("") : "?";
      s.appendChild(svgEl("text", { x: left - 8, y: y + 4, "text-anchor": "end" }, word.length > 22 ? word.slice(0, 21) + "…" : word));
      if (c.lo[i] !== null && c.hi[i] !== null) {
        s.appendChild(svgEl("line", { x1: X(c.lo[i]), x2: X(c.hi[i]), y1: y, y2: y, stroke: "#888", "stroke-width": 6,
                                      "stroke-opacity": 0.45 }));
      }
      Object.keys(t.seeds).forEach(function (seed) {
        var v = t.seeds[seed].rel[i];
        if (v !== null && v !== undefined) {
          s.appendChild(svgEl("circle", { cx: X(v), cy: y, r: 2.6, fill: "none", stroke: "#333", "stroke-width": 1 }));
        }
      });
      var rgb = colour(c.mean[i], scale);
      var m = svgEl("rect", { x: X(c.mean[i]) - 4, y: y - 6, width: 8, height: 12, fill: css(rgb), stroke: "#000" });
      m.appendChild(svgEl("title", {}, word + ": consensus " + fmt(c.mean[i]) + ", band [" + fmt(c.lo[i]) + ", " +
                                         fmt(c.hi[i]) + "], SD " + fmt(c.sd[i]) + ", sign agreement " +
                                         (c.sign[i] === null ? "–" : Math.round(100 * c.sign[i]) + "%")));
      s.appendChild(m);
    });
    target.appendChild(s);
    target.appendChild(el("p", "note", "Square: consensus (mean over seeds); grey bar: " + c.band +
                                     "; circles: the seeds shown above. The 12 words with the largest |consensus|."));
  }
  function legend(root, scale, note) {
    root.querySelector(".lg-min").textContent = fmt(-scale);
    root.querySelector(".lg-max").textContent = fmt(scale);
    root.querySelector(".lg-note").textContent = note;
  }
  var gradient = "linear-gradient(to right," + data.palette.join(",") + ")";
  Array.prototype.forEach.call(document.querySelectorAll(".lg-bar"), function (b) { b.style.background = gradient; });

  var select = document.getElementById("text-select");
  data.texts.forEach(function (t, i) {
    var rho = t.stats && t.stats.spearman !== undefined && t.stats.spearman !== null ? "ρ " + t.stats.spearman.toFixed(2) + " · " : "";
    var opt = el("option", null, (i + 1) + ". " + rho + t.text.replace(/\s+/g, " ").slice(0, 90));
    opt.value = String(i);
    select.appendChild(opt);
  });
  function show(i) {
    var t = data.texts[i], chars = Array.from(t.text);
    var seeds = Object.keys(t.seeds);
    var scale = maxAbs(seeds.map(function (s) { return t.seeds[s].rel; }).concat([t.consensus ? t.consensus.mean : []]));
    var meta = document.getElementById("text-meta");
    var preds = seeds.map(function (s) { return "seed " + s + " → " + t.seeds[s].pred; }).join(", ");
    var st = t.stats || {};
    meta.textContent = "Document " + t.id + " · gold label: " + t.label + " · predictions: " + preds +
      (st.spearman !== undefined ? " · between seeds: Spearman ρ " + plain(st.spearman) + ", top-10 overlap " +
       plain(st.fa_10) + ", half-split r " + plain(st.half_r) + ", SNR " + plain(st.snr) : "");
    legend(document.getElementById("viewer-legend"), scale,
           "shared scale of the seed maps and the consensus" + (data.reference ? " (relevance toward " + data.reference + ")" : ""));
    var maps = document.getElementById("seed-maps");
    maps.textContent = "";
    seeds.forEach(function (s) {
      var box = el("div", "map");
      box.setAttribute("data-seed", s);
      heatmap(box, "seed " + s + " · predicts " + t.seeds[s].pred, chars, t.spans, t.seeds[s].rel, scale);
      maps.appendChild(box);
    });
    var cons = document.getElementById("consensus-map");
    if (t.consensus) { heatmap(cons, "consensus: mean over seeds", chars, t.spans, t.consensus.mean, scale); }
    else { cons.textContent = "No consensus: run stablex analyze RUN."; }
    spread(document.getElementById("consensus-spread"), t, chars, scale);
    var fm = document.getElementById("feature-map");
    if (t.features) {
      var fscale = maxAbs([t.features.rel]);
      heatmap(fm, "feature model · predicts " + t.features.pred + " · its own scale ±" + fmt(fscale).replace("+", ""),
              chars, t.features.spans, t.features.rel, fscale);
    } else {
      fm.textContent = "No feature-model map for this text: run stablex features RUN.";
    }
  }
  select.addEventListener("change", function () { show(Number(select.value)); });
  function step(d) {
    var n = data.texts.length, i = (Number(select.value) + d + n) % n;
    select.value = String(i);
    show(i);
  }
  document.getElementById("prev-text").addEventListener("click", function () { step(-1); });
  document.getElementById("next-text").addEventListener("click", function () { step(1); });
  show(0);
})();
"""
