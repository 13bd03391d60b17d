// Benchmark of the console in the page (npm run bench:display), in real Chromium (playwright-core,
// /usr/bin/chromium), on the mock driver:
// 1. first frame: time from `session.openConsole(element)` to the first non-blank pixel of its
//    canvas, seen in a requestAnimationFrame callback (what the page shows). The result is the
//    cold case, a page's first console (it imports the console module, /console.js): the median
//    of COLD_PAGES new pages (goal <= 500 ms); warm opens in the same page are printed too.
// 2. throughput: frames per second of a changing screen through the bridge's console vs noVNC
//    connected directly to the display port in the same run (goal: bridge >= 0.8x direct).
//
// Why the mock driver: its fake display is animated here (every update request gets a new
// 320x200 frame at once), so the rate measures the path, deterministically and fast. The real
// test guest under TCG scrolls some ten lines a second (its /cgi-bin/cvmweb-scroll), far below
// either path's rate: it would measure the emulator, not the bridge.
// How it is fair: the same page, the same noVNC 1.7 (the bridge's /console.js bundles it; the
// direct side imports its ESM sources from node_modules), the same display server in this process.
// Direct = noVNC -> a plain WebSocket<->TCP relay in this process (websockify's job: bytes both
// ways, no checks) -> the display port, noVNC doing the VNC authentication with the password.
// Bridge = noVNC -> the service's console endpoint (origin check, one-time token; the service
// authenticates to the display itself) -> the display port. noVNC asks for the next frame when it
// has drawn one, so the rate includes each path's latency. Frames are counted from the bytes the
// page's WebSocket receives (each frame is one raw rectangle of the whole screen, 4 bytes a pixel as
// noVNC asks, after a 4-byte update header and a 12-byte rectangle header). The paths
// alternate in ROUNDS rounds of ROUND_MS; the medians are compared.
// Last line: RESULT display first_frame_ms=… fps_ratio=…
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, normalize } from 'node:path';
import { createCvmweb } from '@cvmweb/core';
import { authenticateVnc } from '@cvmweb/core/node';
import { TEST_SCRYPT_COST } from '@cvmweb/core/testing';
import { createMockHypervisor, mock } from '@cvmweb/driver-mock';
import { BridgeService, PolicyStore } from '@cvmweb/web-bridge';
import { chromium } from 'playwright-core';
import { WebSocketServer } from 'ws';

const CHROMIUM = '/usr/bin/chromium';
const ROUNDS = 5;
const ROUND_MS = 3000;
const COLD_PAGES = 3;
const WARM_OPENS = 5;

if (!existsSync(CHROMIUM)) {
  console.error(`bench:display needs Chromium at ${CHROMIUM} (apt-get install chromium)`);
  process.exit(1);
}

// The bridge on the mock driver with an animated display.
const stateDir = await mkdtemp(join(tmpdir(), 'cvmweb-bench-display-'));
const state = createMockHypervisor();
const cvmweb = await createCvmweb({
  driver: mock({ instance: state, display: { animated: true } }),
  stateDir,
  secretCost: TEST_SCRYPT_COST,
});

// The site: a page with the client and a console element, and noVNC's sources for the direct side.
// (@novnc/novnc is the web bridge's development dependency: resolved from there.)
const fromBridge = createRequire(new URL('../packages/web-bridge/package.json', import.meta.url));
const novnc = dirname(dirname(fromBridge.resolve('@novnc/novnc')));
let bridgePort = 0;
const site = createServer(async (request, response) => {
  const path = new URL(request.url ?? '/', 'http://x').pathname;
  if (path.startsWith('/novnc/')) {
    const file = normalize(join(novnc, path.slice('/novnc/'.length)));
    if (file.startsWith(`${novnc}/`) && file.endsWith('.js') && existsSync(file)) {
      response.writeHead(200, { 'content-type': 'text/javascript' });
      response.end(await readFile(file));
      return;
    }
    response.writeHead(404).end();
    return;
  }
  response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  response.end(
    `<!doctype html><title>bench</title><script src="http://127.0.0.1:${bridgePort}/cvmweb.js"></script>` +
      '<div id="screen" style="width:640px;height:400px"></div>',
  );
});
await new Promise((resolve) => site.listen(0, '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${site.address().port}`;

const policy = await PolicyStore.open({ initial: { origins: { [origin]: 'allow' } } });
const service = new BridgeService({ cvmweb, port: 0, policy });
await service.start();
bridgePort = service.port;

// The direct side's relay: WebSocket <-> TCP to the display port, nothing else.
const relay = new WebSocketServer({ host: '127.0.0.1', port: 0 });
let displayPort = 0;
relay.on('connection', (ws) => {
  const tcp = connect(displayPort, '127.0.0.1');
  // Backpressure: stop reading the display while the page is behind, go on once it caught up.
  tcp.on('data', (data) => {
    ws.send(data, () => {
      if (tcp.isPaused() && ws.bufferedAmount < 1 << 18) tcp.resume();
    });
    if (ws.bufferedAmount > 1 << 20) tcp.pause();
  });
  ws.on('message', (data) => tcp.write(data));
  const end = () => {
    tcp.destroy();
    ws.terminate();
  };
  tcp.on('close', end).on('error', end);
  ws.on('close', end).on('error', end);
});
await new Promise((resolve) => relay.once('listening', resolve));

/** The display's size, from its ServerInit (authenticated as noVNC does). */
async function screenSize({ port, password }) {
  const socket = await new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
  await authenticateVnc(socket, password);
  const init = new Promise((resolve) => socket.once('data', resolve));
  socket.write(Buffer.from([1]));
  const serverInit = await init;
  socket.destroy();
  return [serverInit.readUInt16BE(0), serverInit.readUInt16BE(2)];
}

const profile = await mkdtemp(join(tmpdir(), 'cvmweb-bench-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
  viewport: { width: 800, height: 600 },
});

// Every page counts the bytes its WebSockets receive, and can time a console's first non-blank frame.
await context.addInitScript(() => {
  // A proxy, not a subclass: noVNC checks the channel's own prototype for WebSocket's members.
  window.received = 0;
  window.WebSocket = new Proxy(window.WebSocket, {
    construct(Native, args) {
      const ws = new Native(...args);
      ws.addEventListener('message', (event) => {
        window.received += event.data.byteLength ?? event.data.size ?? event.data.length ?? 0;
      });
      return ws;
    },
  });
  /** Opens the console; resolves with ms until openConsole() resolved and until a frame was drawn. */
  window.timeOpen = async () => {
    const element = document.getElementById('screen');
    const started = performance.now();
    const view = await window.session.openConsole(element);
    const connected = performance.now() - started;
    const frame = await new Promise((resolve) => {
      const look = () => {
        const canvas = element.querySelector('canvas');
        if (canvas && canvas.width > 0 && canvas.height > 0) {
          const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
          for (let i = 0; i < pixels.length; i += 4) {
            if (pixels[i] + pixels[i + 1] + pixels[i + 2] > 0) return resolve(performance.now() - started);
          }
        }
        requestAnimationFrame(look);
      };
      requestAnimationFrame(look);
    });
    const ended = new Promise((resolve) => view.addEventListener('disconnect', resolve));
    view.disconnect();
    await ended;
    return { connected, frame };
  };
});

/** A new page of the site with the running session (requested, opened and started by the first). */
async function sessionPage() {
  const page = await context.newPage();
  await page.goto(`${origin}/`);
  await page.waitForFunction(() => 'CVMWeb' in window);
  const id = await page.evaluate(async (url) => {
    const bridge = await window.CVMWeb.connect({ url });
    const session = await bridge.requestSession('bench-display', 'key');
    if (session.state !== 4) {
      await session.open({ cpus: 1, ram: 256 });
      await session.start();
    }
    window.session = session;
    return session.id;
  }, `http://127.0.0.1:${bridgePort}`);
  return { page, id };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
try {
  // 1. First frame: cold in new pages (each imports /console.js), then warm in the last one.
  const cold = [];
  let page;
  let sessionId;
  for (let i = 0; i < COLD_PAGES; i++) {
    await page?.close();
    ({ page, id: sessionId } = await sessionPage());
    cold.push(await page.evaluate(() => window.timeOpen()));
  }
  const warm = [];
  for (let i = 0; i < WARM_OPENS; i++) warm.push(await page.evaluate(() => window.timeOpen()));
  const coldFrame = median(cold.map((t) => t.frame));
  console.log(
    `first frame after openConsole(): cold ${coldFrame.toFixed(0)} ms (median of ${COLD_PAGES} new pages: ${cold.map((t) => t.frame.toFixed(0)).join(', ')}; openConsole() resolved after ${median(cold.map((t) => t.connected)).toFixed(0)} ms), warm ${median(warm.map((t) => t.frame)).toFixed(0)} ms (median of ${WARM_OPENS} more opens in the same page) (goal <= 500)`,
  );
  const endpoint = await (await cvmweb.session(sessionId)).displayEndpoint();
  displayPort = endpoint.port;
  const [width, height] = await screenSize(endpoint);
  const frameBytes = 4 + 12 + width * height * 4;

  // 2. Throughput, alternating the paths.
  const measure = (side) =>
    page.evaluate(
      async ({ side, relayUrl, password, roundMs }) => {
        const element = document.getElementById('screen');
        let close;
        if (side === 'bridge') {
          const view = await window.session.openConsole(element);
          const ended = new Promise((resolve) => view.addEventListener('disconnect', resolve));
          close = () => {
            view.disconnect();
            return ended;
          };
        } else {
          const { default: RFB } = await import('/novnc/core/rfb.js');
          const rfb = new RFB(element, relayUrl, { credentials: { password }, shared: true });
          rfb.scaleViewport = true;
          const ended = new Promise((resolve) => rfb.addEventListener('disconnect', resolve));
          await Promise.race([
            new Promise((resolve) => rfb.addEventListener('connect', resolve)),
            ended.then(() => Promise.reject(new Error('direct noVNC disconnected'))),
          ]);
          close = () => {
            rfb.disconnect();
            return ended;
          };
        }
        // Warm-up, then count.
        await new Promise((resolve) => setTimeout(resolve, 300));
        const before = window.received;
        const started = performance.now();
        await new Promise((resolve) => setTimeout(resolve, roundMs));
        const bytes = window.received - before;
        const seconds = (performance.now() - started) / 1000;
        await close();
        return bytes / seconds;
      },
      {
        side,
        relayUrl: `ws://127.0.0.1:${relay.address().port}/`,
        password: endpoint.password,
        roundMs: ROUND_MS,
      },
    );
  const rates = { bridge: [], direct: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const side of round % 2 === 0 ? ['direct', 'bridge'] : ['bridge', 'direct']) {
      rates[side].push((await measure(side)) / frameBytes);
    }
  }
  const bridgeFps = median(rates.bridge);
  const directFps = median(rates.direct);
  const ratio = bridgeFps / directFps;
  console.log(
    `changing ${width}x${height} screen: bridge ${bridgeFps.toFixed(1)} fps, direct ${directFps.toFixed(1)} fps (medians of ${ROUNDS} rounds of ${ROUND_MS} ms), ratio ${ratio.toFixed(2)} (goal >= 0.8)`,
  );
  console.log(`RESULT display first_frame_ms=${coldFrame.toFixed(0)} fps_ratio=${ratio.toFixed(2)}`);
} finally {
  await context.close();
  await new Promise((resolve) => relay.close(resolve));
  await service.stop();
  await new Promise((resolve) => site.close(resolve));
  await cvmweb.dispose();
  await state.shutdown();
  await rm(stateDir, { recursive: true, force: true });
  await rm(profile, { recursive: true, force: true });
}
