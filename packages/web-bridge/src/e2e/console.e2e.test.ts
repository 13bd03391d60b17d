import { createServer, type Server } from 'node:http';
import { GUEST_REPORT_PATH } from '@cvmweb/core';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideConsent, startTestBridge, type TestBridge } from '../../test/bridge-test-support.js';
import { hasChromium, launchChromium } from '../../test/chromium.js';

// biome-ignore lint/suspicious/noExplicitAny: the page's globals, untyped inside page.evaluate
type Win = Record<string, any>;
/** The browser globals used inside `page.evaluate` (this package compiles without the DOM library). */
declare const window: Win;
// biome-ignore lint/suspicious/noExplicitAny: the DOM, untyped inside page.evaluate
declare const document: any;
// biome-ignore lint/suspicious/noExplicitAny: the DOM, untyped inside page.evaluate
declare const WebSocket: any;

let bridge: TestBridge;
const sites: Server[] = [];
let context: BrowserContext;
let closeChromium: (() => Promise<void>) | undefined;

/** A web site of its own loopback origin (its own port) using the client the service serves. */
async function startSite(script: string): Promise<string> {
  const site = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(
      `<!doctype html><title>site</title><script src="${script}"></script>` +
        '<div id="screen" style="width:640px;height:400px"></div>',
    );
  });
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  sites.push(site);
  return `http://127.0.0.1:${(site.address() as { port: number }).port}`;
}

let owner: string;
let stranger: string;

beforeAll(async () => {
  bridge = await startTestBridge();
  const script = `http://127.0.0.1:${bridge.service.port}/cvmweb.js`;
  owner = await startSite(script);
  stranger = await startSite(script);
  await bridge.policy.remember(stranger, 'allow');
  ({ context, close: closeChromium } = await launchChromium({ width: 900, height: 700 }));
}, 60_000);

afterAll(async () => {
  await closeChromium?.();
  for (const site of sites) await new Promise((resolve) => site.close(resolve));
  await bridge?.close();
});

async function open(origin: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${origin}/`);
  await page.waitForFunction(() => 'CVMWeb' in window);
  await page.evaluate(async (url) => {
    window['bridge'] = await window['CVMWeb'].connect({ url });
  }, `http://127.0.0.1:${bridge.service.port}`);
  return page;
}

/**
 * In the page: raw protocol requests, one after the other, on a WebSocket of its own to the
 * service's `/bridge` (kept open: its console tokens live as long as it); resolves with the last
 * answer.
 */
function rawRequests({ url, frames }: { url: string; frames: Record<string, unknown>[] }): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url}/bridge`);
    window['raw'] = [...(window['raw'] ?? []), ws];
    let id = 0;
    const next = () => {
      const frame = frames[id];
      id++;
      ws.send(JSON.stringify({ v: 1, id, ...frame }));
    };
    ws.onerror = () => reject(new Error('the bridge WebSocket failed'));
    ws.onmessage = (event: { data: string }) => {
      const answer = JSON.parse(event.data);
      if (answer.type === 'hello') next();
      else if (answer.id === id && id < frames.length) next();
      else if (answer.id === id) resolve(answer);
    };
  });
}

/** In the page: opens a console WebSocket; resolves with its first bytes' text, or how it closed. */
function tryConsole(url: string): Promise<{ greeting?: string; code?: number; reason?: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    ws.onmessage = (event: { data: ArrayBuffer }) => {
      resolve({ greeting: String.fromCharCode(...new Uint8Array(event.data)) });
      ws.close();
    };
    ws.onclose = (event: { code: number; reason: string }) =>
      resolve({ code: event.code, reason: event.reason });
  });
}

/** In the page: how many pixels of the console's canvas are not black. */
function litPixels(): number {
  const canvas = document.querySelector('#screen canvas');
  if (!canvas || canvas.width === 0) return 0;
  const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
  let lit = 0;
  for (let i = 0; i < data.length; i += 4) if (data[i] + data[i + 1] + data[i + 2] > 0) lit++;
  return lit;
}

async function guestKeys(sessionId: string): Promise<string> {
  const session = await bridge.cvmweb.session(sessionId);
  if (!session?.apiURL) return '';
  const response = await fetch(new URL(GUEST_REPORT_PATH, session.apiURL));
  return ((await response.json()) as { keys: string }).keys;
}

describe.skipIf(!hasChromium)('the console in Chromium', { timeout: 120_000 }, () => {
  it('shows the owner’s VM screen in a canvas, typing reaches the guest, and other origins and spent tokens are refused', async () => {
    const page = await open(owner);
    const service = `ws://127.0.0.1:${bridge.service.port}`;
    // Consent first: the session waits for the person.
    await page.evaluate(() => {
      window['requested'] = window['bridge'].requestSession('console', 'k');
    });
    await decideConsent(bridge, owner, 'allow-once');
    const sessionId = await page.evaluate(async () => {
      const session = await window['requested'];
      window['session'] = session;
      await session.open();
      await session.start('');
      window['view'] = await session.openConsole(document.getElementById('screen'));
      window['ended'] = [];
      window['view'].addEventListener('disconnect', (code: number) => window['ended'].push(code));
      return session.id as string;
    });
    // The canvas shows the guest's screen: non-blank pixels.
    await expect.poll(() => page.evaluate(litPixels), { timeout: 15_000 }).toBeGreaterThan(1000);
    // Typing on the focused canvas reaches the guest (the mock guest reports the keys it got).
    await page.locator('#screen canvas').click();
    await page.keyboard.type('hello');
    await page.keyboard.press('Enter');
    await expect.poll(() => guestKeys(sessionId), { timeout: 15_000 }).toBe('hello\n');
    expect(bridge.service.consoles).toBe(1);

    // Another origin: the session's console is refused with NOT_ALLOWED.
    const other = await open(stranger);
    const refused = (await other.evaluate(rawRequests, {
      url: service,
      frames: [{ op: 'console', session: sessionId }],
    })) as { type: string; error: { code: number } };
    expect([refused.type, refused.error.code]).toEqual(['error', -10]);
    // A token of the owner's, used by another origin: refused (4010) and spent.
    const ownerFrames = [
      { op: 'requestSession', name: 'console', key: 'k' },
      { op: 'console', session: sessionId },
    ];
    const ticket = (await page.evaluate(rawRequests, { url: service, frames: ownerFrames })) as {
      value: { token: string; path: string };
    };
    const stolen = `${service}${ticket.value.path}?token=${ticket.value.token}`;
    expect(await other.evaluate(tryConsole, stolen)).toEqual({ code: 4010, reason: 'NOT_ALLOWED' });
    expect(await page.evaluate(tryConsole, stolen)).toEqual({ code: 4010, reason: 'NOT_ALLOWED' });
    // A fresh token works once for its owner; used again it is refused.
    const fresh = (await page.evaluate(rawRequests, { url: service, frames: ownerFrames })) as {
      value: { token: string; path: string };
    };
    const once = `${service}${fresh.value.path}?token=${fresh.value.token}`;
    expect(await page.evaluate(tryConsole, once)).toEqual({ greeting: 'RFB 003.008\n' });
    expect(await page.evaluate(tryConsole, once)).toEqual({ code: 4010, reason: 'NOT_ALLOWED' });

    // Stopping the VM ends the console normally; a stopped VM has no console.
    const stopped = await page.evaluate(async () => {
      await window['session'].stop();
      return window['session'].openConsole(document.getElementById('screen')).then(
        () => 0,
        (error: { code: number }) => error.code,
      );
    });
    expect(stopped).toBe(-8);
    await expect.poll(() => page.evaluate(() => window['ended'])).toEqual([0]);
    await expect.poll(() => bridge.service.consoles).toBe(0);

    // Consent withdrawn: the console is refused.
    await page.evaluate(() => window['session'].start(''));
    await bridge.service.consent.revoke(owner);
    const revoked = await page.evaluate(() =>
      window['session'].openConsole(document.getElementById('screen')).then(
        () => 0,
        (error: { code: number }) => error.code,
      ),
    );
    expect(revoked).toBe(-10);
  });

  it('the test page’s console panel opens the screen, closes it, and says why', async () => {
    const page = await context.newPage();
    await page.goto(bridge.service.url);
    await page.waitForSelector('body[data-ready="true"]');
    await page.fill('#name', 'panel');
    const logged = (line: string) =>
      expect.poll(() => page.textContent('#log'), { timeout: 15_000 }).toContain(line);
    await page.click('#request');
    await logged('✓ requestSession');
    await page.click('#open');
    await logged('✓ open');
    await page.click('#start');
    await logged('✓ start');
    await page.click('#openConsole');
    await logged('✓ openConsole');
    await expect.poll(() => page.evaluate(litPixels), { timeout: 15_000 }).toBeGreaterThan(1000);
    expect(await page.isDisabled('#openConsole')).toBe(true);
    await page.click('#closeConsole');
    await logged('console closed (0)');
    expect(await page.isDisabled('#openConsole')).toBe(false);
    await page.click('#stop');
    await logged('✓ stop');
    await page.click('#openConsole');
    await logged('✗ openConsole: INVALID_STATE (-8)');
  });
});
