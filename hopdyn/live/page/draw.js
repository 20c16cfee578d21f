// hopdyn: drawing shared by the live page and exported runs (no network access).
// Layers are drawn on canvases (an image, bars or a heat map); the energy and
// the PCA with Chart.js (vendor/chart.umd.min.js, MIT licence).
"use strict";

const HopdynDraw = (() => {
  const grey = (v, lo, hi) => {
    const g = Math.round(255 * Math.min(1, Math.max(0, (v - lo) / ((hi - lo) || 1))));
    return [g, g, g];
  };
  // a perceptually even blue-white-red ramp for heat maps
  const diverging = (v, lo, hi) => {
    const s = Math.min(1, Math.max(0, (v - lo) / ((hi - lo) || 1))) * 2 - 1;
    const a = Math.abs(s);
    return s < 0
      ? [Math.round(255 - 196 * a), Math.round(255 - 139 * a), 255 - Math.round(75 * a)]
      : [255 - Math.round(75 * a), Math.round(255 - 196 * a), Math.round(255 - 196 * a)];
  };

  function range(values, view) {
    if (view.lo !== null && view.lo !== undefined) return [view.lo, view.hi];
    let lo = Infinity, hi = -Infinity;
    for (const v of values) { if (v < lo) lo = v; if (v > hi) hi = v; }
    return lo === hi ? [lo - 1, hi + 1] : [lo, hi];
  }

  function pixels(canvas, values, view, colour) {
    const [rows, cols] = view.shape;
    if (canvas.width !== cols || canvas.height !== rows) { canvas.width = cols; canvas.height = rows; }
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(cols, rows);
    const [lo, hi] = range(values, view);
    for (let i = 0; i < rows * cols; i++) {
      const [r, g, b] = i < values.length ? colour(values[i], lo, hi) : [238, 238, 238];
      img.data[4 * i] = r; img.data[4 * i + 1] = g; img.data[4 * i + 2] = b; img.data[4 * i + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }

  function bars(canvas, values, names, highlight) {
    const ctx = canvas.getContext("2d");
    const w = canvas.width, h = canvas.height, n = values.length;
    ctx.clearRect(0, 0, w, h);
    let lo = Math.min(0, ...values), hi = Math.max(0, ...values);
    if (hi === lo) hi = lo + 1;
    const base = h - 16, top = 4, y = (v) => base - ((v - lo) / (hi - lo)) * (base - top);
    const bw = w / n;
    for (let i = 0; i < n; i++) {
      ctx.fillStyle = i === highlight ? "#d62728" : "#1f77b4";
      const y0 = y(Math.max(0, lo)), y1 = y(values[i]);
      ctx.fillRect(i * bw + 2, Math.min(y0, y1), Math.max(1, bw - 4), Math.abs(y1 - y0));
      ctx.fillStyle = "#333";
      ctx.font = "11px sans-serif";
      ctx.textAlign = "center";
      ctx.fillText(names && names[i] !== undefined ? String(names[i]) : String(i), i * bw + bw / 2, h - 3);
    }
  }

  function layer(canvas, values, view, names, highlight) {
    if (view.kind === "image") pixels(canvas, values, view, grey);
    else if (view.kind === "heatmap") pixels(canvas, values, view, diverging);
    else bars(canvas, values, names, highlight);
  }

  function energyChart(canvas) {
    return new Chart(canvas, {
      type: "line",
      data: { datasets: [{ label: "energy E", data: [], borderColor: "#1f77b4", borderWidth: 1.5, pointRadius: 0 }] },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false, parsing: false, normalized: true,
        scales: { x: { type: "linear", title: { display: true, text: "model time t" } },
                  y: { title: { display: true, text: "energy E" } } },
        plugins: { legend: { display: false } },
      },
    });
  }

  // the stored patterns' names beside their landmarks
  const names = {
    id: "hopdynNames",
    afterDatasetsDraw(chart, args, opts) {
      const meta = chart.getDatasetMeta(0), ctx = chart.ctx;
      ctx.save(); ctx.font = "bold 12px sans-serif"; ctx.fillStyle = "#444";
      meta.data.forEach((pt, i) => { if (opts.labels && opts.labels[i] !== undefined) ctx.fillText(opts.labels[i], pt.x + 6, pt.y - 6); });
      ctx.restore();
    },
  };

  function pcaChart(canvas, landmarks, labels, axes) {
    return new Chart(canvas, {
      type: "scatter",
      data: {
        datasets: [
          { label: "stored patterns", data: landmarks.map(([x, y]) => ({ x, y })), pointRadius: 6, pointStyle: "rectRot", backgroundColor: "#ff7f0e" },
          { label: "trail", data: [], showLine: true, borderColor: "rgba(31,119,180,0.45)", borderWidth: 1.5, pointRadius: 0 },
          { label: "state", data: [], pointRadius: 6, backgroundColor: "#d62728" },
        ],
      },
      options: {
        // parsed (not parsing: false): the landmarks are not sorted by x, and an
        // unparsed dataset's range is taken from its ends
        animation: false, responsive: true, maintainAspectRatio: false,
        scales: { x: { title: { display: true, text: axes[0] } }, y: { title: { display: true, text: axes[1] } } },
        plugins: { legend: { position: "bottom" }, hopdynNames: { labels } },
      },
      plugins: [names],
    });
  }

  // one titled canvas per layer, in the order of the views; returns {name: {canvas, view}}
  function layerBoxes(container, page) {
    const out = {};
    container.innerHTML = "";
    for (const view of page.views) {
      const box = document.createElement("div");
      box.className = "layer";
      const h = document.createElement("h2");
      const role = view.name === page.visible ? " (visible)" : view.name === page.label_layer ? " (label)" : view.name === page.memory ? " (memories)" : "";
      h.textContent = `layer ${view.name}${role}: ${view.kind === "bars" ? "activations" : view.kind}`;
      const c = document.createElement("canvas");
      c.className = view.kind;
      c.id = `layer-${view.name}`;
      if (view.kind === "bars") { c.width = 420; c.height = 90; }
      box.append(h, c);
      container.append(box);
      out[view.name] = { canvas: c, view };
    }
    return out;
  }

  return { layer, layerBoxes, energyChart, pcaChart };
})();
