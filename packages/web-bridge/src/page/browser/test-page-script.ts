/**
 * The test page's script (the original plugin's test.html, as a page of the
 * service): bridge and hypervisor status, every session action, the cap and
 * properties, a live log of every event, the session's daemon fields, the
 * daemon's controls, its timeline and the VM's console. Bundled by tsup into `dist/test-page.js`,
 * served at `/test-page.js`; it uses the global `CVMWeb` that `/cvmweb.js`
 * defines, as any page of a site would.
 */
import {
  DaemonFlags,
  type HypervisorError,
  originalEventNames,
  sessionStateName,
} from '@cvmweb/core/browser';
import type { CVMWebBridge } from '../../client/cvmweb-bridge.js';
import type { CVMWebDaemonAccess } from '../../client/cvmweb-daemon-access.js';
import type { CVMWebSession, CVMWebSessionEvents } from '../../client/cvmweb-session.js';
import type { CVMWeb as CVMWebGlobal } from '../../client/index.js';
import type { TimelineEntry } from '../../protocol/server-frame.js';
import { wireConsolePanel } from './console-panel.js';
import { drawTimeline } from './timeline-drawing.js';

declare const CVMWeb: typeof CVMWebGlobal;

/** The session properties the page shows, in order. */
const fields = [
  'state',
  'hibernated',
  'cpus',
  'ram',
  'disk',
  'version',
  'executionCap',
  'ip',
  'apiURL',
  'rdpURL',
  'daemonControlled',
  'daemonMinCap',
  'daemonMaxCap',
  'daemonFlags',
] as const satisfies readonly (keyof CVMWebSession)[];

/** Every session event the page logs. */
const events = [
  ...originalEventNames,
  'stateChanged',
] as const satisfies readonly (keyof CVMWebSessionEvents)[];

/** The most timeline entries the page keeps. */
const TIMELINE_LIMIT = 5000;

/** The element with `id`, of the type the page's markup gives it. */
function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`test page: no element #${id}`);
  return element as T;
}
const input = (id: string) => $<HTMLInputElement>(id);

/** The code name, code and message of a failure, for the log. */
function describeError(error: unknown): string {
  const e = error as Partial<HypervisorError>;
  return `${e.codeName} (${e.code}): ${e.message ?? String(error)}`;
}

let bridge: CVMWebBridge | undefined;
let session: CVMWebSession | undefined;
let timeline: TimelineEntry[] = [];
let skew = 0;
let drawing = false;

function log(line: string): void {
  const el = $('log');
  el.textContent += `${new Date().toISOString().slice(11, 23)} ${line}\n`;
  el.scrollTop = el.scrollHeight;
}

function show(): void {
  const table = $('props');
  table.replaceChildren();
  if (!session) return;
  const row = (name: string, value: string) => {
    const tr = document.createElement('tr');
    const key = document.createElement('td');
    const cell = document.createElement('td');
    key.textContent = name;
    cell.textContent = value;
    if (name !== 'id') cell.className = `v-${name}`;
    tr.append(key, cell);
    table.append(tr);
  };
  row('id', session.id);
  for (const field of fields) {
    const value = session[field];
    row(field, field === 'state' ? `${value} (${sessionStateName(session.state)})` : String(value));
  }
}

async function act(name: string, run: (session: CVMWebSession) => Promise<unknown>): Promise<void> {
  if (!session) {
    log('! request a session first');
    return;
  }
  await report(name, () => run(session!));
}

async function report(name: string, run: () => Promise<unknown>): Promise<void> {
  try {
    const result = await run();
    log(`✓ ${name}${result !== undefined ? ` → ${JSON.stringify(result)}` : ''}`);
  } catch (error) {
    log(`✗ ${name}: ${describeError(error)}`);
  }
  show();
}

function wire(s: CVMWebSession): void {
  session = s;
  for (const name of events) {
    s.addEventListener(name, (...args: unknown[]) => {
      log(`event ${name}(${args.map((a) => JSON.stringify(a)).join(', ')})`);
      if (name === 'progress') {
        const [done, total, message] = args as CVMWebSessionEvents['progress'];
        const progress = $<HTMLProgressElement>('progress');
        progress.max = total || 1;
        progress.value = done;
        $('progress-text').textContent = message;
      }
      show();
    });
  }
  show();
}

function draw(): void {
  drawing = false;
  const svg = $('timeline');
  const { svg: markup, height } = drawTimeline(timeline, {
    now: Date.now() - skew,
    span: Number($<HTMLSelectElement>('window').value) * 60_000,
  });
  svg.setAttribute('height', String(height));
  svg.innerHTML = markup;
  svg.dataset['entries'] = String(timeline.length);
}

function redraw(): void {
  if (drawing) return;
  drawing = true;
  requestAnimationFrame(draw);
}

async function daemonStatus(): Promise<void> {
  try {
    const d = await bridge!.requestDaemonAccess();
    $('daemon-status').textContent =
      `daemon ${d.isRunning ? 'running' : 'stopped'} · system ${d.isSystemIdle ? 'idle' : 'not idle'} · idleTime ${d.idleTime} s` +
      (d.privileged ? ` · privileged, path ${d.path}` : '');
  } catch (error) {
    const e = error as Partial<HypervisorError>;
    $('daemon-status').textContent = `no daemon: ${e.codeName} (${e.code})`;
  }
}

async function loadTimeline(watch: boolean): Promise<void> {
  try {
    const result = watch ? await bridge!.watchTimeline() : await bridge!.timeline();
    skew = Date.now() - result.now;
    timeline = result.events.slice();
    $('timeline-note').textContent = '';
  } catch (error) {
    const e = error as Partial<HypervisorError>;
    $('timeline-note').textContent = ` (${e.codeName}: ${e.message})`;
  }
  redraw();
}

// The pattern for every site: status() at load never prompts; connect() only from a click,
// unless the service already answers (granted, or a page of the service itself like this one).
async function main(): Promise<void> {
  const status = await CVMWeb.status({ url: location.origin });
  $('status').textContent =
    `permission ${status.permission}, service ${status.service}` +
    (status.version ? ` ${status.version}` : '') +
    (status.secureContext ? '' : ', not a secure context');
  if (status.service === 'running' && status.compatible) return start();
  const enable = $('enable');
  enable.hidden = false;
  enable.onclick = () => {
    enable.hidden = true;
    void start();
  };
}

async function start(): Promise<void> {
  let connected: CVMWebBridge;
  try {
    connected = await CVMWeb.connect({
      url: location.origin,
      onConsentRequired: (url) => {
        $('consent').hidden = false;
        $<HTMLAnchorElement>('consent-link').href = url;
      },
    });
  } catch (error) {
    $('bridge').textContent = `not available: ${(error as Error).message}`;
    $('enable').hidden = false;
    return;
  }
  bridge = connected;
  const state = $('bridge');
  state.textContent = 'connected';
  state.className = 'ok';
  $('hypervisor').textContent = `${connected.hypervisorName} ${connected.hypervisorVersion}`;
  $('origin').textContent = connected.origin;
  if (connected.fallback) $('banner').style.display = 'block';
  connected.addEventListener('disconnect', () => {
    state.textContent = 'reconnecting…';
    state.className = 'bad';
  });
  connected.addEventListener('reconnect', () => {
    state.textContent = 'connected';
    state.className = 'ok';
    show();
  });
  connected.addEventListener('timeline', (entry) => {
    timeline.push(entry);
    if (timeline.length > TIMELINE_LIMIT) timeline.splice(0, timeline.length - TIMELINE_LIMIT);
    if (entry.kind === 'system' || entry.kind === 'daemon') void daemonStatus();
    if (entry.kind === 'session') show();
    redraw();
  });
  await loadTimeline(true);
  await daemonStatus();
  setInterval(redraw, 1000);
  document.body.dataset['ready'] = 'true';
  log(`connected to ${connected.hypervisorName} ${connected.hypervisorVersion}`);
}

$('request').onclick = () =>
  report('requestSession', async () => {
    if (!bridge) throw new Error('not connected');
    const s = await bridge.requestSession(input('name').value, input('key').value);
    $('consent').hidden = true;
    if (s !== session) wire(s);
    // The session's own history shows once the page holds it.
    await loadTimeline(false);
    return s.id;
  });
$('open').onclick = () =>
  act('open', (s) =>
    s.open({
      cpus: Number(input('cpus').value),
      ram: Number(input('ram').value),
      disk: Number(input('disk').value),
    }),
  );
$('start').onclick = () => act('start', (s) => s.start($<HTMLTextAreaElement>('userData').value));
for (const name of ['pause', 'resume', 'reset', 'stop', 'hibernate', 'close'] as const) {
  $(name).onclick = () => act(name, (s) => s[name]());
}
$('setCap').onclick = () => act('setExecutionCap', (s) => s.setExecutionCap(Number(input('cap').value)));
$('setProperty').onclick = () =>
  act('setProperty', (s) => s.setProperty(input('prop').value, input('value').value));
$('getProperty').onclick = () => act('getProperty', (s) => s.getProperty(input('prop').value));
$('setDaemon').onclick = () =>
  act('setDaemonSettings', (s) =>
    s.setDaemonSettings({
      controlled: input('dControlled').checked,
      minCap: Number(input('dMin').value),
      maxCap: Number(input('dMax').value),
      flags:
        (input('dSuspend').checked ? DaemonFlags.DF_SUSPEND : 0) |
        (input('dAutostart').checked ? DaemonFlags.DF_AUTOSTART : 0),
    }),
  );
const daemonAct = (name: string, run: (daemon: CVMWebDaemonAccess) => Promise<unknown>) => async () => {
  try {
    await run(await bridge!.requestDaemonAccess());
    log(`✓ daemon ${name}`);
  } catch (error) {
    log(`✗ daemon ${name}: ${describeError(error)}`);
  }
  void daemonStatus();
};
$('setIdleTime').onclick = daemonAct('setIdleTime', (d) => d.setIdleTime(Number(input('idleTime').value)));
$('daemonStart').onclick = daemonAct('start', (d) => d.start());
$('daemonStop').onclick = daemonAct('stop', (d) => d.stop());
$('window').onchange = redraw;
wireConsolePanel(() => session, log);
void main();
