/**
 * The test page at `/` (the original plugin's test.html): bridge and
 * hypervisor status, every session action, the cap and properties, and a live
 * log of every event and progress step. Its script is {@link testPageScript}
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
progress{width:20em}button{margin:.15em}
</style></head>
<body>
<h1>cvmweb test page</h1>
<div id="banner">SIMULATED HYPERVISOR: the service runs on the mock driver; no real virtual machine is made.</div>
<p>Bridge: <span id="bridge" class="bad">connecting…</span> · Hypervisor: <span id="hypervisor">?</span>
 · Origin: <span id="origin">?</span></p>
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
  async function main() {
    try {
      bridge = await CVMWeb.connect({
        url: location.origin,
        onConsentRequired: (url) => { $('consent').hidden = false; $('consent-link').href = url; },
      });
    } catch (e) {
      $('bridge').textContent = 'not available: ' + e.message;
      return;
    }
    $('bridge').textContent = 'connected';
    $('bridge').className = 'ok';
    $('hypervisor').textContent = bridge.hypervisorName + ' ' + bridge.hypervisorVersion;
    $('origin').textContent = bridge.origin;
    if (bridge.fallback) $('banner').style.display = 'block';
    bridge.addEventListener('disconnect', () => { $('bridge').textContent = 'reconnecting…'; $('bridge').className = 'bad'; });
    bridge.addEventListener('reconnect', () => { $('bridge').textContent = 'connected'; $('bridge').className = 'ok'; show(); });
    document.body.dataset.ready = 'true';
    log('connected to ' + bridge.hypervisorName + ' ' + bridge.hypervisorVersion);
  }
  $('request').onclick = () => act('requestSession', async () => {
    const s = await bridge.requestSession($('name').value, $('key').value);
    $('consent').hidden = true;
    if (s !== session) wire(s);
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
  main();
})();
`;
