// hopdyn live: one WebSocket to the server; frames in, controls out.
// The page shows the current energy, model time and frame count in #energy,
// #time and #frames; window.hopdynLive holds the last frame (for scripts and tests).
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const HISTORY = 400;        // energy points kept on the chart
  const TRAIL = 300;          // PCA points kept in the trail
  const state = { hello: null, frame: null, frames: 0, times: [], canvases: {}, errors: 0, closed: false };
  window.hopdynLive = state;
  let energy = null, pca = null;

  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/live`);
  const send = (msg) => { if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg)); };
  state.send = send;

  function setup(hello) {
    state.hello = hello;
    $("scenario").textContent = hello.scenario;
    $("description").textContent = hello.description;
    document.title = `hopdyn live: ${hello.scenario}`;
    state.canvases = HopdynDraw.layerBoxes($("layers"), hello);
    const mode = $("mode");
    mode.innerHTML = hello.modes.map((m) => `<option value="${m}">${m}</option>`).join("");
    mode.value = hello.mode;
    mode.disabled = hello.modes.length < 2;
    const label = $("label");
    label.innerHTML = hello.names.map((n, i) => `<option value="${i}">${i}: ${n}</option>`).join("");
    label.disabled = hello.label_layer === null;
    $("speed").value = hello.controls.speed.value;
    if (hello.controls.beta) $("beta").value = hello.controls.beta.value; else $("beta").disabled = true;
    energy = HopdynDraw.energyChart($("energy-chart"));
    pca = HopdynDraw.pcaChart($("pca-chart"), hello.landmarks, hello.names, hello.axes);
  }

  function show(frame) {
    const first = state.frame === null || frame.frame !== state.frame.frame;
    state.frame = frame;
    $("time").textContent = frame.t.toPrecision(4);
    $("energy").textContent = frame.energy.toPrecision(6);
    $("frames").textContent = String(frame.frame);
    $("status").textContent = frame.paused ? "paused" : frame.status;
    $("pause").textContent = frame.paused ? "Resume" : "Pause";
    if (frame.label !== null && document.activeElement !== $("label")) $("label").value = String(frame.label);
    if (document.activeElement !== $("mode")) $("mode").value = frame.mode;
    const ly = frame.lyapunov, badge = $("lyapunov");
    badge.classList.toggle("rose", ly.rose);
    badge.textContent = ly.rose
      ? `Lyapunov: E rose by ${ly.by.toPrecision(3)} at t = ${ly.at.toPrecision(4)}`
      : `Lyapunov: no rise since t = ${ly.since.toPrecision(4)}`;
    if (frame.message) $("message").textContent = frame.message;
    const hello = state.hello;
    for (const [name, values] of Object.entries(frame.layers)) {
      const c = state.canvases[name];
      if (!c) continue;
      const highlight = name === hello.label_layer ? frame.label : -1;
      HopdynDraw.layer(c.canvas, values, c.view, name === hello.label_layer ? hello.names : null, highlight);
    }
    if (first && frame.frame > 0) {
      const e = energy.data.datasets[0].data;
      e.push({ x: frame.t, y: frame.energy });
      if (e.length > HISTORY) e.splice(0, e.length - HISTORY);
      const trail = pca.data.datasets[1].data;
      trail.push({ x: frame.pca[0], y: frame.pca[1] });
      if (trail.length > TRAIL) trail.splice(0, trail.length - TRAIL);
      state.frames += 1;
      const now = performance.now();
      state.times.push(now);
      while (state.times.length && now - state.times[0] > 2000) state.times.shift();
      $("fps").textContent = state.times.length > 1 ? ((state.times.length - 1) / ((now - state.times[0]) / 1000)).toFixed(1) : "0";
    }
    if (frame.frame === 0) { energy.data.datasets[0].data = []; pca.data.datasets[1].data = []; }
    pca.data.datasets[2].data = [{ x: frame.pca[0], y: frame.pca[1] }];
    energy.update("none");
    pca.update("none");
  }

  ws.onmessage = (event) => {
    const msg = JSON.parse(event.data);
    if (msg.hello) setup(msg.hello);
    else if (msg.error) { state.errors += 1; $("message").textContent = msg.error; }
    else show(msg);
  };
  ws.onclose = () => { state.closed = true; $("status").textContent = "disconnected (the server stopped)"; };

  const clear = () => { $("message").textContent = ""; };
  $("pause").onclick = () => { clear(); send({ pause: !(state.frame && state.frame.paused) }); };
  $("mode").onchange = (e) => { clear(); send({ mode: e.target.value }); };
  $("label").onchange = (e) => { clear(); send({ label: Number(e.target.value) }); };
  const number = (id, key) => $(id).addEventListener("change", (e) => {
    clear();
    const v = e.target.value.trim() === "" ? e.target.value : Number(e.target.value);
    send({ [key]: v });
  });
  number("beta", "beta");
  number("speed", "speed");
  $("corrupt").onclick = () => {
    clear();
    const share = Number($("corrupt-share").value);
    send({ corrupt: { [$("corrupt-kind").value]: share } });
  };
  $("reset").onclick = () => { clear(); send({ reset: true }); };
})();
