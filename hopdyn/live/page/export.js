// hopdyn export-html: a finished run, offline.  The slider picks a saved time;
// #time, #energy and #frames show it (window.hopdynRun: the data and position).
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const data = JSON.parse($("run-data").textContent);
  const run = { data, member: 0, index: 0 };
  window.hopdynRun = run;
  $("scenario").textContent = data.scenario;
  $("description").textContent = data.description;
  document.title = `hopdyn run: ${data.scenario}`;
  const canvases = HopdynDraw.layerBoxes($("layers"), data);
  $("member").innerHTML = data.members.map((m, i) => `<option value="${i}">${i} (${m.status.replace("_", " ")})</option>`).join("");
  const energy = HopdynDraw.energyChart($("energy-chart"));
  energy.data.datasets.push({ label: "now", data: [], pointRadius: 5, backgroundColor: "#d62728", showLine: false });
  const pca = HopdynDraw.pcaChart($("pca-chart"), data.landmarks, data.names, data.axes);
  // log-spaced saved times: a log axis when they start after 0
  energy.options.scales.x.type = "logarithmic";

  function member(i) {
    run.member = i;
    const m = data.members[i];
    $("slider").max = String(m.t.length - 1);
    energy.data.datasets[0].data = m.t.map((t, k) => ({ x: Math.max(t, m.t[1] / 10 || 1e-6), y: m.energy[k] }));
    $("status").textContent = m.status.replace("_", " ");
    at(0);
  }

  function at(k) {
    const m = data.members[run.member];
    run.index = k;
    $("slider").value = String(k);
    $("time").textContent = m.t[k].toPrecision(4);
    $("energy").textContent = m.energy[k].toPrecision(6);
    $("frames").textContent = `${k + 1} of ${m.t.length}`;
    const label = data.label_layer ? m.layers[data.label_layer][k] : null;
    const chosen = label ? label.indexOf(Math.max(...label)) : -1;
    for (const [name, rows] of Object.entries(m.layers)) {
      const c = canvases[name];
      if (c) HopdynDraw.layer(c.canvas, rows[k], c.view, name === data.label_layer ? data.names : null, name === data.label_layer ? chosen : -1);
    }
    energy.data.datasets[1].data = [energy.data.datasets[0].data[k]];
    pca.data.datasets[1].data = m.pca.slice(0, k + 1).map(([x, y]) => ({ x, y }));
    pca.data.datasets[2].data = [{ x: m.pca[k][0], y: m.pca[k][1] }];
    energy.update("none");
    pca.update("none");
  }

  let timer = null;
  $("slider").oninput = (e) => at(Number(e.target.value));
  $("member").onchange = (e) => member(Number(e.target.value));
  $("play").onclick = () => {
    if (timer) { clearInterval(timer); timer = null; $("play").textContent = "Play"; return; }
    $("play").textContent = "Stop";
    timer = setInterval(() => {
      const m = data.members[run.member];
      if (run.index >= m.t.length - 1) { clearInterval(timer); timer = null; $("play").textContent = "Play"; return; }
      at(run.index + 1);
    }, 80);
  };
  member(0);
})();
