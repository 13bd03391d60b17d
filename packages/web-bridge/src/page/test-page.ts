/**
 * The test page at `/` (the original plugin's test.html): bridge and
 * hypervisor status, every session action, the cap and properties, a live
 * log of every event and progress step, the session's daemon fields, the
 * daemon's controls and a live timeline of the daemon (system idle/active, each
 * of the page's sessions' state, cap and the daemon's actions) as inline SVG, and a console
 * panel showing the running VM's screen (`session.openConsole`). Its script is
 * `src/page/browser/test-page-script.ts`, bundled at build and served at `/test-page.js` (the
 * page's CSP allows no inline script).
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
<fieldset><legend>Console</legend>
 <button id="openConsole">openConsole</button><button id="closeConsole">close console</button>
 <button id="ctrlAltDel">Ctrl+Alt+Del</button> (click the screen to type into the VM)
 <div id="screen" style="width:640px;height:400px;margin-top:.4em;background:#222"></div>
</fieldset>
<fieldset><legend>Properties</legend><table id="props"></table></fieldset>
<fieldset><legend>Events</legend><div id="log"></div></fieldset>
<script src="/cvmweb.js"></script>
<script src="/test-page.js"></script>
</body></html>`;
