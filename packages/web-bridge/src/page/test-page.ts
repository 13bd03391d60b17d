/**
 * The test page at `/` (the original plugin's test.html): bridge and
 * hypervisor status, every session action, the cap and properties, a live
 * log of every event and progress step, the session's daemon fields, the
 * daemon's controls and a live timeline of the daemon (system idle/active, each
 * of the page's sessions' state, cap and the daemon's actions) as inline SVG. Its script is {@link testPageScript}
 * at `/test-page.js` (the page's CSP allows no inline script).
 */
export const testPageHtml = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cvmweb test page</title>
<style>
body{font:15px system-ui,sans-serif;margin:1.5em;max-width:70em;background:#fafafa;color:#222}
h1{margin:.2em 0}fieldset{margin:.6em 0;border:1px solid #bbb;border-radius:6px;background:#fff}
.ok{color:#070;font-weight:bold}.bad{color:#b00;font-weight:bold}
#banner{display:none;background:#fd0;color:#000;padding:.6em;font-weight:bold;border:3px solid #000}
#log{height:22em;overflow:auto;background:#111;color:#0f0;font:13px monospace;padding:.5em;white-space:pre-wrap}
table{border-collapse:collapse}td{padding:.15em .6em;border-bottom:1px solid #ddd}
#timeline{display:block;background:#fff;border:1px solid #ccc;margin-top:.4em}
.key{display:inline-block;width:.9em;height:.9em;vertical-align:middle;margin:0 .2em 0 .8em}
progress{width:20em}button{margin:.15em}
</style></head>
<body>
<h1>cvmweb test page</h1>
<div id="banner">SIMULATED HYPERVISOR: the service runs on the mock driver; no real virtual machine is made.</div>
<p>Bridge: <span id="bridge" class="bad">connecting…</span> · Hypervisor: <span id="hypervisor">?</span>
 · Origin: <span id="origin">?</span></p>
<p>Status (no prompt): <span id="status">?</span>
 <button id="enable" hidden>Enable local VMs</button></p>
<p id="consent" hidden>Waiting for approval on the <a id="consent-link" target="_blank" rel="noopener">consent page</a>.</p>
<fieldset><legend>Session</legend>
 Name <input id="name" value="test-session"> Secret key <input id="key" value="test-key">
 <button id="request">requestSession</button>
</fieldset>
<fieldset><legend>Lifecycle</legend>
 CPUs <input id="cpus" type="number" value="1" min="1" style="width:4em">
 RAM <input id="ram" type="number" value="256" style="width:6em"> MiB
 Disk <input id="disk" type="number" value="1024" style="width:6em"> MiB
 <button id="open">open</button><br>
 <textarea id="userData" rows="3" cols="60">[cernvm]
users=user:users:s3cr3t</textarea><br>
 <button id="start">start</button><button id="pause">pause</button><button id="resume">resume</button>
 <button id="reset">reset</button><button id="stop">stop</button><button id="hibernate">hibernate</button>
 <button id="close">close</button>
 <progress id="progress" value="0" max="1"></progress> <span id="progress-text"></span>
</fieldset>
<fieldset><legend>Cap and properties</legend>
 Execution cap <input id="cap" type="number" value="100" min="1" max="100" style="width:4em"> <button id="setCap">setExecutionCap</button>
 · Property <input id="prop" value="greeting"> = <input id="value" value="hello">
 <button id="setProperty">setProperty</button><button id="getProperty">getProperty</button>
</fieldset>
<fieldset><legend>Daemon</legend>
 <span id="daemon-status">?</span><br>
 Session policy: <label><input id="dControlled" type="checkbox"> daemonControlled</label>
 daemonMinCap <input id="dMin" type="number" value="25" min="0" max="100" style="width:4em">
 daemonMaxCap <input id="dMax" type="number" value="100" min="0" max="100" style="width:4em">
 daemonFlags <label><input id="dSuspend" type="checkbox"> DF_SUSPEND</label>
 <label><input id="dAutostart" type="checkbox"> DF_AUTOSTART</label>
 <button id="setDaemon">set daemon fields</button><br>
 Privileged origins only: idleTime <input id="idleTime" type="number" value="30" min="1" style="width:5em"> s
 <button id="setIdleTime">setIdleTime</button><button id="daemonStart">start daemon</button><button id="daemonStop">stop daemon</button>
</fieldset>
<fieldset><legend>Timeline</legend>
 Last <select id="window"><option value="0.5">30 s</option><option value="1">1 min</option><option value="5" selected>5 min</option><option value="15">15 min</option></select>
 <span class="key" style="background:#2a9d3a"></span>idle / started
 <span class="key" style="background:#e07b00"></span>active
 <span class="key" style="background:#e0c000"></span>paused
 <span class="key" style="background:#3a6fd8"></span>hibernated
 <span class="key" style="background:#bbb"></span>off / unknown
 <span class="key" style="background:#111;height:.2em"></span>cap
 <span class="key" style="background:#c0187a;border-radius:50%"></span>daemon action
 <span id="timeline-note"></span>
 <svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="900" height="60" role="img" aria-label="daemon timeline"></svg>
</fieldset>
<fieldset><legend>Properties</legend><table id="props"></table></fieldset>
<fieldset><legend>Events</legend><div id="log"></div></fieldset>
<script src="/cvmweb.js"></script>
<script src="/test-page.js"></script>
</body></html>`;

/** The test page's script (plain browser JavaScript, served at `/test-page.js`). */
export const testPageScript = `(() => {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const stateNames = ['Closed', 'Opening', 'Open', 'Starting', 'Started', 'Error', 'Paused'];
  const fields = ['state', 'hibernated', 'cpus', 'ram', 'disk', 'version', 'executionCap', 'ip', 'apiURL', 'rdpURL',
    'daemonControlled', 'daemonMinCap', 'daemonMaxCap', 'daemonFlags'];
  const events = ['open', 'start', 'close', 'pause', 'resume', 'stop', 'hibernate', 'reset', 'openError', 'startError',
    'closeError', 'pauseError', 'resumeError', 'stopError', 'hibernateError', 'resetError', 'progress', 'error',
    'apiAvailable', 'apiUnavailable', 'debug', 'stateChanged'];
  let bridge;
  let session;
  let timeline = [];
  let skew = 0;
  let drawing = false;
  function log(line) {
    const el = $('log');
    el.textContent += new Date().toISOString().slice(11, 23) + ' ' + line + '\\n';
    el.scrollTop = el.scrollHeight;
  }
  function show() {
    const rows = [];
    if (session) {
      rows.push('<tr><td>id</td><td>' + session.id + '</td></tr>');
      for (const f of fields) {
        let v = session[f];
        if (f === 'state') v = v + ' (' + stateNames[v] + ')';
        rows.push('<tr><td>' + f + '</td><td class="v-' + f + '">' + String(v).replace(/[<&]/g, '') + '</td></tr>');
      }
    }
    $('props').innerHTML = rows.join('');
  }
  async function act(name, run) {
    if (!session && name !== 'requestSession') { log('! request a session first'); return; }
    try {
      const result = await run();
      log('✓ ' + name + (result !== undefined ? ' → ' + JSON.stringify(result) : ''));
    } catch (e) {
      log('✗ ' + name + ': ' + e.codeName + ' (' + e.code + '): ' + e.message);
    }
    show();
  }
  function wire(s) {
    session = s;
    for (const name of events) {
      s.addEventListener(name, (...args) => {
        log('event ' + name + '(' + args.map((a) => JSON.stringify(a)).join(', ') + ')');
        if (name === 'progress') {
          $('progress').max = args[1] || 1;
          $('progress').value = args[0];
          $('progress-text').textContent = args[2];
        }
        show();
      });
    }
    show();
  }
  const esc = (text) => String(text).replace(/[&<>"']/g, (c) => '&#' + c.charCodeAt(0) + ';');
  const systemColors = { idle: '#2a9d3a', active: '#e07b00', unknown: '#bbb', stopped: '#555' };
  function sessionColor(e) {
    if (e.state === 4) return '#2a9d3a';
    if (e.state === 6) return '#e0c000';
    if (e.state === 2) return e.hibernated ? '#3a6fd8' : '#bbb';
    if (e.state === 5) return '#c00';
    if (e.state === 1 || e.state === 3) return '#9cd';
    return '#eee';
  }
  /** Consecutive segments [from, to) of a list of timed states. */
  function segments(points, end) {
    const out = [];
    for (let i = 0; i < points.length; i++) {
      const to = i + 1 < points.length ? points[i + 1].at : end;
      out.push({ from: points[i].at, to, value: points[i] });
    }
    return out;
  }
  /** Draws the daemon's timeline: the system's idle/active bands, then a row per session (state, cap, actions). */
  function draw() {
    drawing = false;
    const svg = $('timeline');
    const W = 900, left = 130, right = 12, top = 18, rowH = 34;
    const span = +$('window').value * 60000;
    const last = timeline.length ? timeline[timeline.length - 1].at : 0;
    const end = Math.max(Date.now() - skew, last);
    const start = end - span;
    const x = (t) => left + Math.max(0, Math.min(1, (t - start) / span)) * (W - left - right);
    const parts = [];
    const band = (cls, seg, y, h, color, data, title) => {
      if (seg.to < start) return;
      const x0 = x(seg.from), x1 = Math.max(x(seg.to), x0 + 2);
      parts.push('<rect class="' + cls + '" ' + data + ' x="' + x0.toFixed(1) + '" y="' + y + '" width="' + (x1 - x0).toFixed(1) +
        '" height="' + h + '" fill="' + color + '"><title>' + esc(title) + '</title></rect>');
    };
    // The time axis.
    const step = span <= 60000 ? 10000 : span <= 300000 ? 60000 : 180000;
    for (let t = end; t >= start; t -= step) {
      const label = t === end ? 'now' : '-' + Math.round((end - t) / 1000) + ' s';
      parts.push('<line x1="' + x(t) + '" x2="' + x(t) + '" y1="' + (top - 4) + '" y2="2000" stroke="#eee"/>' +
        '<text x="' + x(t) + '" y="12" font-size="10" text-anchor="middle" fill="#666">' + label + '</text>');
    }
    // The system: idle / active / unknown, and stopped while the daemon is not running.
    const system = [];
    for (const e of timeline) {
      if (e.kind === 'system') system.push({ at: e.at, state: e.state, idleSeconds: e.idleSeconds });
      else if (e.kind === 'daemon' && !e.running) system.push({ at: e.at, state: 'stopped' });
    }
    parts.push('<text x="4" y="' + (top + 20) + '" font-size="12">system</text>');
    for (const seg of segments(system, end)) {
      band('sys', seg, top + 4, rowH - 8, systemColors[seg.value.state] || '#bbb', 'data-state="' + seg.value.state + '"',
        seg.value.state + ' since ' + new Date(seg.value.at).toLocaleTimeString());
    }
    // One row per session: its state as bands, its cap as a line, the daemon's actions as dots.
    const rows = new Map();
    for (const e of timeline) {
      if (e.kind !== 'session' && e.kind !== 'action') continue;
      if (!rows.has(e.sessionId)) rows.set(e.sessionId, { name: e.name, states: [], actions: [] });
      const row = rows.get(e.sessionId);
      (e.kind === 'session' ? row.states : row.actions).push(e);
    }
    let y = top + rowH;
    for (const [id, row] of rows) {
      parts.push('<text x="4" y="' + (y + 20) + '" font-size="12">' + esc(row.name.slice(0, 18)) + '</text>');
      const names = ['Closed', 'Opening', 'Open', 'Starting', 'Started', 'Error', 'Paused'];
      for (const seg of segments(row.states, end)) {
        const e = seg.value;
        band('ses', seg, y + 4, rowH - 8, sessionColor(e), 'data-session="' + esc(id) + '" data-state="' + e.state + '"',
          names[e.state] + (e.hibernated ? ' (hibernated)' : '') + ', cap ' + e.executionCap + '%');
      }
      const points = [];
      for (const seg of segments(row.states, end)) {
        if (seg.to < start) continue;
        const cy = (y + rowH - 5 - (seg.value.executionCap / 100) * (rowH - 10)).toFixed(1);
        points.push(x(seg.from).toFixed(1) + ',' + cy, x(seg.to).toFixed(1) + ',' + cy);
      }
      if (points.length) parts.push('<polyline class="cap" fill="none" stroke="#111" stroke-width="2" points="' + points.join(' ') + '"/>');
      for (const a of row.actions) {
        if (a.at < start) continue;
        parts.push('<circle class="act" data-action="' + esc(a.action) + '" cx="' + x(a.at).toFixed(1) + '" cy="' + (y + 5) +
          '" r="4" fill="' + (a.ok ? '#c0187a' : '#c00') + '"><title>' + esc(a.action + (a.cap !== undefined ? ' ' + a.cap + '%' : '') +
          (a.ok ? '' : ' failed: ' + (a.error || ''))) + '</title></circle>');
      }
      y += rowH;
    }
    svg.setAttribute('height', String(y + 4));
    svg.innerHTML = parts.join('');
    svg.dataset.entries = String(timeline.length);
  }
  function redraw() {
    if (!drawing) { drawing = true; requestAnimationFrame(draw); }
  }
  async function daemonStatus() {
    try {
      const d = await bridge.requestDaemonAccess();
      $('daemon-status').textContent = 'daemon ' + (d.isRunning ? 'running' : 'stopped') + ' · system ' +
        (d.isSystemIdle ? 'idle' : 'not idle') + ' · idleTime ' + d.idleTime + ' s' + (d.privileged ? ' · privileged, path ' + d.path : '');
    } catch (e) {
      $('daemon-status').textContent = 'no daemon: ' + e.codeName + ' (' + e.code + ')';
    }
  }
  async function loadTimeline(watch) {
    try {
      const result = watch ? await bridge.watchTimeline() : await bridge.timeline();
      skew = Date.now() - result.now;
      timeline = result.events.slice();
      $('timeline-note').textContent = '';
    } catch (e) {
      $('timeline-note').textContent = ' (' + e.codeName + ': ' + e.message + ')';
    }
    redraw();
  }
  // The pattern for every site: status() at load never prompts; connect() only from a click,
  // unless the service already answers (granted, or a page of the service itself like this one).
  async function main() {
    const status = await CVMWeb.status({ url: location.origin });
    $('status').textContent = 'permission ' + status.permission + ', service ' + status.service +
      (status.version ? ' ' + status.version : '') + (status.secureContext ? '' : ', not a secure context');
    if (status.service === 'running' && status.compatible) return start();
    $('enable').hidden = false;
    $('enable').onclick = () => { $('enable').hidden = true; start(); };
  }
  async function start() {
    try {
      bridge = await CVMWeb.connect({
        url: location.origin,
        onConsentRequired: (url) => { $('consent').hidden = false; $('consent-link').href = url; },
      });
    } catch (e) {
      $('bridge').textContent = 'not available: ' + e.message;
      $('enable').hidden = false;
      return;
    }
    $('bridge').textContent = 'connected';
    $('bridge').className = 'ok';
    $('hypervisor').textContent = bridge.hypervisorName + ' ' + bridge.hypervisorVersion;
    $('origin').textContent = bridge.origin;
    if (bridge.fallback) $('banner').style.display = 'block';
    bridge.addEventListener('disconnect', () => { $('bridge').textContent = 'reconnecting…'; $('bridge').className = 'bad'; });
    bridge.addEventListener('reconnect', () => { $('bridge').textContent = 'connected'; $('bridge').className = 'ok'; show(); });
    bridge.addEventListener('timeline', (entry) => {
      timeline.push(entry);
      if (timeline.length > 5000) timeline.splice(0, timeline.length - 5000);
      if (entry.kind === 'system' || entry.kind === 'daemon') daemonStatus();
      if (entry.kind === 'session') show();
      redraw();
    });
    await loadTimeline(true);
    await daemonStatus();
    setInterval(redraw, 1000);
    document.body.dataset.ready = 'true';
    log('connected to ' + bridge.hypervisorName + ' ' + bridge.hypervisorVersion);
  }
  $('request').onclick = () => act('requestSession', async () => {
    const s = await bridge.requestSession($('name').value, $('key').value);
    $('consent').hidden = true;
    if (s !== session) wire(s);
    // The session's own history shows once the page holds it.
    await loadTimeline(false);
    return s.id;
  });
  $('open').onclick = () => act('open', () => session.open({ cpus: +$('cpus').value, ram: +$('ram').value, disk: +$('disk').value }));
  $('start').onclick = () => act('start', () => session.start($('userData').value));
  for (const name of ['pause', 'resume', 'reset', 'stop', 'hibernate', 'close']) {
    $(name).onclick = () => act(name, () => session[name]());
  }
  $('setCap').onclick = () => act('setExecutionCap', () => session.setExecutionCap(+$('cap').value));
  $('setProperty').onclick = () => act('setProperty', () => session.setProperty($('prop').value, $('value').value));
  $('getProperty').onclick = () => act('getProperty', () => session.getProperty($('prop').value));
  $('setDaemon').onclick = () => act('setDaemonSettings', () => session.setDaemonSettings({
    controlled: $('dControlled').checked,
    minCap: +$('dMin').value,
    maxCap: +$('dMax').value,
    flags: ($('dSuspend').checked ? 1 : 0) | ($('dAutostart').checked ? 2 : 0),
  }));
  const daemonAct = (name, run) => async () => {
    try {
      const d = await bridge.requestDaemonAccess();
      await run(d);
      log('✓ daemon ' + name);
    } catch (e) {
      log('✗ daemon ' + name + ': ' + e.codeName + ' (' + e.code + '): ' + e.message);
    }
    daemonStatus();
  };
  $('setIdleTime').onclick = daemonAct('setIdleTime', (d) => d.setIdleTime(+$('idleTime').value));
  $('daemonStart').onclick = daemonAct('start', (d) => d.start());
  $('daemonStop').onclick = daemonAct('stop', (d) => d.stop());
  $('window').onchange = redraw;
  main();
})();
`;
