import { mkdtemp, readFile, rm } from 'node:fs/promises';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { type Browser, type BrowserContext, chromium, type Frame, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideConsent, startTestBridge, type TestBridge } from '../../test/bridge-test-support.js';
import { CHROMIUM, hasChromium } from '../../test/chromium.js';
import { clientBundlePath } from '../service/client-bundle.js';

/*
 * Pages on public sites, in Debian's Chromium, which enforces Local Network Access: the sites
 * are https (a certificate this test makes; Chromium ignores its errors) or plain http, named
 * by --host-resolver-rules, served from loopback ports that --ip-address-space-overrides makes
 * "public". They host the client themselves (`cvmweb.global.js`), as docs tell public sites to.
 * Permission grants are Playwright's: granted, or withheld (headless Chromium then refuses the
 * prompt as a person would).
 */

// biome-ignore lint/suspicious/noExplicitAny: the page's globals, untyped inside evaluate
type Win = Record<string, any>;
declare const window: Win;
declare const document: Win;
declare const navigator: Win;

let bridge: TestBridge;
let browser: Browser;
let https: Server;
let http: Server;
let httpsPort: number;
let httpPort: number;
let downPort: number;
let work: string;

/** The first `js` example of the README's way (a): what a public site copies. */
async function readmeSnippet(): Promise<string> {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  const way = readme.slice(readme.indexOf('**(a) Public sites host the client themselves.**'));
  const snippet = /```js\n([\s\S]*?)```/.exec(way)?.[1];
  if (!snippet) throw new Error('README: no js example under way (a)');
  // As written, but aimed at the test's service instead of the default port 5624.
  return snippet
    .replace(/\b(status|connect)\(\)/g, '$1({ url })')
    .replace(/\bconnect\(\{ /g, 'connect({ url, ');
}

const served =
  (client: string, esm: string, snippet: string) => (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', 'https://x');
    const html = (body: string) => {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      response.end(`<!doctype html><meta charset="utf-8"><script src="/cvmweb.global.js"></script>${body}`);
    };
    if (url.pathname === '/cvmweb.global.js' || url.pathname === '/client.js') {
      response.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
      response.end(url.pathname === '/client.js' ? esm : client);
    } else if (url.pathname === '/readme') {
      // The README's example as a module, the package name mapped to the site's copy of the ES module.
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      response.end(`<!doctype html><meta charset="utf-8">
<script type="importmap">{"imports":{"@cvmweb/web-bridge/client":"/client.js"}}</script>
<button id="enableButton">Enable local VMs</button>
<script>window.start = (bridge) => { window.started = bridge.hypervisorName; }; window.showLink = () => {};</script>
<script type="module">const url = ${JSON.stringify(`http://127.0.0.1:${bridge.service.port}`)};
${snippet}\nwindow.ready = true;</script>`);
    } else if (url.pathname === '/framed') {
      // The embedding page: one iframe of another public site, with the `allow` attribute asked for.
      const allow = url.searchParams.get('allow');
      html(`<iframe src="https://frame.example:${httpsPort}/"${allow ? ` allow="${allow}"` : ''}></iframe>`);
    } else html('<p>a public site</p>');
  };

beforeAll(async () => {
  bridge = await startTestBridge({ service: { consentClickDelayMs: 0 } });
  work = await mkdtemp(join(tmpdir(), 'cvmweb-public-'));
  await execa(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=site.example',
      '-keyout',
      join(work, 'key.pem'),
      '-out',
      join(work, 'cert.pem'),
    ],
    { env: { LC_ALL: 'C' } },
  );
  const client = await readFile(clientBundlePath(), 'utf8');
  const esm = await readFile(join(dirname(clientBundlePath()), 'client', 'index.js'), 'utf8');
  const snippet = await readmeSnippet();
  https = createHttpsServer(
    { key: await readFile(join(work, 'key.pem')), cert: await readFile(join(work, 'cert.pem')) },
    served(client, esm, snippet),
  );
  http = createHttpServer(served(client, esm, snippet));
  const down = createHttpServer();
  for (const server of [https, http, down]) {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  }
  httpsPort = (https.address() as { port: number }).port;
  httpPort = (http.address() as { port: number }).port;
  // A loopback port where no service answers any more.
  downPort = (down.address() as { port: number }).port;
  await new Promise((resolve) => down.close(resolve));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--ignore-certificate-errors',
      '--host-resolver-rules=MAP *.example 127.0.0.1',
      `--ip-address-space-overrides=127.0.0.1:${httpsPort}=public,127.0.0.1:${httpPort}=public`,
    ],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await Promise.all([https, http].map((server) => new Promise((resolve) => server?.close(resolve))));
  await bridge?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

const site = (host: string) => `https://${host}:${httpsPort}`;

/** A fresh browser profile, with Local Network Access granted to `grant` (all origins for `*`). */
async function newContext(grant?: string): Promise<BrowserContext> {
  const context = await browser.newContext();
  if (grant === '*') await context.grantPermissions(['local-network-access']);
  else if (grant) await context.grantPermissions(['local-network-access'], { origin: grant });
  return context;
}

async function open(context: BrowserContext, url: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(url);
  await page.waitForFunction(() => 'CVMWeb' in window);
  return page;
}

/** `CVMWeb.connect()` in the page or frame: the error's code, reason and details, and how long it took. */
function tryConnect(where: Page | Frame, url: string) {
  return where.evaluate(async (url) => {
    const started = performance.now();
    try {
      const bridge = await window['CVMWeb'].connect({ url, reconnect: false });
      const name = bridge.hypervisorName as string;
      bridge.close();
      return { ok: name, ms: performance.now() - started };
    } catch (error) {
      const e = error as { code: number; message: string; details: Record<string, unknown> };
      return { code: e.code, message: e.message, details: e.details, ms: performance.now() - started };
    }
  }, url);
}

describe.skipIf(!hasChromium)(
  'a public site in Chromium with Local Network Access',
  { timeout: 90_000 },
  () => {
    it('granted: status() says so without prompting, and the whole lifecycle runs on the hypervisor', async () => {
      const context = await newContext(site('site.example'));
      const page = await open(context, `${site('site.example')}/`);
      const url = `http://127.0.0.1:${bridge.service.port}`;
      const status = await page.evaluate((url) => window['CVMWeb'].status({ url }), url);
      expect(status).toMatchObject({
        permission: 'granted',
        secureContext: true,
        service: 'running',
        protocol: 1,
        compatible: true,
      });
      const run = page.evaluate(async (url) => {
        const cvmweb = await window['CVMWeb'].connect({ url, reconnect: false });
        const session = await cvmweb.requestSession('public', 'k');
        const states: number[] = [];
        await session.open({ cpus: 1, ram: 256 });
        await session.start('[cernvm]\nusers=user:users:s3cr3t');
        states.push(session.state);
        window['session'] = session;
        return { states, name: cvmweb.hypervisorName };
      }, url);
      await decideConsent(bridge, site('site.example'), 'allow-once');
      expect(await run).toEqual({ states: [4], name: 'mock' });
      // What the hypervisor saw: one VM of ours, running the page's user data.
      const [vm] = bridge.state.vms().filter((v) => v.ours);
      expect(vm?.state).toBe('running');
      expect(vm?.userData).toContain('users=user:users:s3cr3t');
      await page.evaluate(async () => {
        await window['session'].pause();
      });
      expect(bridge.state.vm(vm!.id)?.state).toBe('paused');
      await page.evaluate(async () => {
        await window['session'].resume();
        await window['session'].close();
      });
      expect(bridge.state.vms().filter((v) => v.ours)).toEqual([]);
      await context.close();
    });

    it('not granted: status() never prompts; connect() from a click is refused by the browser within a second, told as Local Network Access', async () => {
      const context = await newContext();
      const page = await open(context, `${site('site.example')}/`);
      const url = `http://127.0.0.1:${bridge.service.port}`;
      const before = await page.evaluate(async (url) => {
        const status = await window['CVMWeb'].status({ url });
        // A prompt (which headless Chromium answers "block") would have turned this into `denied`.
        const after = (await navigator.permissions.query({ name: 'loopback-network' } as never)).state;
        return { status, after };
      }, url);
      expect(before).toEqual({
        status: { permission: 'prompt', secureContext: true, service: 'unknown' },
        after: 'prompt',
      });
      const refused = await tryConnect(page, url);
      expect(refused).toMatchObject({
        code: -10,
        details: { reason: 'local-network-access', permission: 'denied' },
      });
      expect(refused.message).toMatch(/local network access/);
      expect(refused.ms).toBeLessThan(1000);
      // Blocked, though the service runs: the person is not told it is missing.
      expect(await page.evaluate((url) => window['CVMWeb'].status({ url }), url)).toMatchObject({
        permission: 'denied',
        service: 'unknown',
      });
      await context.close();
    });

    it('a service that is not running is told apart from a blocked one', async () => {
      const granted = await newContext(site('site.example'));
      const page = await open(granted, `${site('site.example')}/`);
      const down = `http://127.0.0.1:${downPort}`;
      expect(await page.evaluate((url) => window['CVMWeb'].status({ url }), down)).toMatchObject({
        permission: 'granted',
        service: 'absent',
      });
      const absent = await tryConnect(page, down);
      expect(absent).toMatchObject({ code: -9, details: { reason: 'unreachable' } });
      expect(absent.ms).toBeLessThan(1000);
      await granted.close();
      const withheld = await newContext();
      const blocked = await tryConnect(await open(withheld, `${site('site.example')}/`), down);
      expect(blocked).toMatchObject({ code: -10, details: { reason: 'local-network-access' } });
      await withheld.close();
    });

    it('a plain-http public page is told that the site must use https', async () => {
      const context = await newContext('*');
      const page = await open(context, `http://plain.example:${httpPort}/`);
      const url = `http://127.0.0.1:${bridge.service.port}`;
      expect(await page.evaluate((url) => window['CVMWeb'].status({ url }), url)).toMatchObject({
        secureContext: false,
        service: 'unknown',
      });
      const refused = await tryConnect(page, url);
      expect(refused).toMatchObject({ code: -10, details: { reason: 'insecure-context' } });
      expect(refused.message).toMatch(/https/);
      expect(refused.ms).toBeLessThan(1000);
      await context.close();
    });

    it('an iframe reaches the service only when its embedder delegates the permission with allow=', async () => {
      const url = `http://127.0.0.1:${bridge.service.port}`;
      const bare = await newContext();
      const page = await open(bare, `${site('site.example')}/framed`);
      const frame = page.frames()[1]!;
      await frame.waitForFunction(() => 'CVMWeb' in window);
      expect(await frame.evaluate((url) => window['CVMWeb'].status({ url }), url)).toMatchObject({
        permission: 'denied',
      });
      const refused = await tryConnect(frame, url);
      expect(refused).toMatchObject({
        code: -10,
        details: { reason: 'local-network-access', frame: 'not-delegated' },
      });
      expect(refused.message).toContain('allow="local-network-access; loopback-network"');
      await bare.close();

      const delegated = await newContext(site('site.example'));
      const embedding = await open(
        delegated,
        `${site('site.example')}/framed?allow=${encodeURIComponent('local-network-access; loopback-network')}`,
      );
      const inner = embedding.frames()[1]!;
      await inner.waitForFunction(() => 'CVMWeb' in window);
      expect(await tryConnect(inner, url)).toMatchObject({ ok: 'mock' });
      await delegated.close();
    });

    it('the README’s example for public sites runs as written: connects when allowed, else asks only on the click', async () => {
      const allowed = await newContext(site('site.example'));
      const page = await allowed.newPage();
      await page.goto(`${site('site.example')}/readme`);
      await page.waitForFunction(() => window['started'] === 'mock');
      await allowed.close();

      const asking = await newContext();
      const tab = await asking.newPage();
      await tab.goto(`${site('site.example')}/readme`);
      await tab.waitForFunction(() => window['ready'] === true);
      const permission = () =>
        tab.evaluate(
          async () => (await navigator.permissions.query({ name: 'loopback-network' } as never)).state,
        );
      // Nothing asked at load; the button is the example's way in.
      expect(await permission()).toBe('prompt');
      expect(await tab.evaluate(() => typeof document.getElementById('enableButton').onclick)).toBe(
        'function',
      );
      await tab.click('#enableButton');
      // The click made the browser ask (headless Chromium answers "block").
      await expect.poll(permission).toBe('denied');
      await asking.close();
    });

    it('forty origins of one site waiting for consent cannot keep another site from the person; they are withdrawn when their page closes', async () => {
      const context = await newContext('*');
      const url = `http://127.0.0.1:${bridge.service.port}`;
      const flood = await open(context, `${site('site.example')}/`);
      // Forty subdomains of site.example, each in a frame of its own asking for a session.
      await flood.evaluate(
        ({ port }) =>
          Promise.all(
            Array.from({ length: 40 }, (_, i) => {
              const frame = document.createElement('iframe');
              frame.allow = 'local-network-access; loopback-network';
              frame.src = `https://s${i}.site.example:${port}/`;
              document.body.append(frame);
              return new Promise((resolve) => {
                frame.onload = resolve;
              });
            }),
          ),
        { port: httpsPort },
      );
      const frames = flood.frames().slice(1);
      expect(frames).toHaveLength(40);
      const outcomes = frames.map((frame) =>
        frame.evaluate(async (url) => {
          // Forty sockets open at once on a loaded 2-core machine: give connect more than its 5 s.
          const cvmweb = await window['CVMWeb'].connect({ url, reconnect: false, timeoutMs: 60_000 });
          window['cvmweb'] = cvmweb;
          return cvmweb.requestSession('flood', 'k').then(
            () => 'granted',
            (e: { code: number; details: { reason: string } }) => `${e.code}:${e.details.reason}`,
          );
        }, url),
      );
      const settled: string[] = [];
      const failed: unknown[] = [];
      // The three left waiting end when their page closes: their evaluations reject then.
      for (const outcome of outcomes)
        outcome.then(
          (result) => settled.push(result),
          (error: unknown) => failed.push(error),
        );
      const fromSite = () =>
        bridge.service.consent.pending().filter((r) => r.origin.endsWith(`.site.example:${httpsPort}`));
      // Three wait for the person; every other one is refused at once.
      await expect.poll(() => [settled.length, failed], { timeout: 60_000 }).toEqual([37, []]);
      expect(new Set(settled)).toEqual(new Set(['-10:busy']));
      expect(fromSite()).toHaveLength(3);

      // A page of another site still reaches the person: its request is on the consent page.
      const other = await open(context, `${site('other.example')}/`);
      other
        .evaluate(async (url) => {
          const cvmweb = await window['CVMWeb'].connect({ url, reconnect: false });
          return cvmweb.requestSession('mine', 'k').catch(() => undefined);
        }, url)
        // It waits until its page closes with the context.
        .catch(() => undefined);
      const consent = await context.newPage();
      await expect
        .poll(async () => {
          await consent.goto(bridge.service.consentUrl);
          return consent.locator(`section[data-origin="${site('other.example')}"]`).count();
        })
        .toBe(1);
      expect(await consent.locator('section.request').count()).toBe(4);

      // The flooding page goes away: its requests leave the consent page; the other site's stays.
      await flood.close();
      await expect.poll(() => fromSite().length).toBe(0);
      expect(bridge.service.consent.pending().map((r) => r.origin)).toEqual([site('other.example')]);
      await context.close();
      await expect.poll(() => bridge.service.consent.pending().length).toBe(0);
    });
  },
);
