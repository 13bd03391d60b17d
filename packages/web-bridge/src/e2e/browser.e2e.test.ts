import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBridge, type TestBridge } from '../testing/bridge-test-support.js';

const CHROMIUM = '/usr/bin/chromium';

// biome-ignore lint/suspicious/noExplicitAny: the page's globals, untyped inside page.evaluate
type Win = Record<string, any>;
/** The browser globals used inside `page.evaluate` (this package compiles without the DOM library). */
declare const window: Win;
declare const document: { querySelector(selector: string): { textContent: string | null } | null };

let bridge: TestBridge;
let site: Server;
let sitePort: number;
let context: BrowserContext;
let profile: string;
let shots: string;

beforeAll(async () => {
  bridge = await startTestBridge();
  const script = `http://127.0.0.1:${bridge.service.port}/cvmweb.js`;
  // A page of another loopback origin (another port): a web site using the client.
  site = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(`<!doctype html><title>site</title><script src="${script}"></script><p>site</p>`);
  });
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  sitePort = (site.address() as { port: number }).port;
  profile = await mkdtemp(join(tmpdir(), 'cvmweb-chromium-'));
  shots = await mkdtemp(join(tmpdir(), 'cvmweb-shots-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
    viewport: { width: 1100, height: 900 },
  });
}, 60_000);

afterAll(async () => {
  await context?.close();
  await new Promise((resolve) => site?.close(resolve));
  await bridge?.close();
  await rm(profile, { recursive: true, force: true });
  await rm(shots, { recursive: true, force: true });
});

const lifecycleEvents = [
  'open',
  'start',
  'pause',
  'resume',
  'stop',
  'hibernate',
  'close',
  'stateChanged',
  'progress',
];

async function sitePage(): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`http://127.0.0.1:${sitePort}/`);
  await page.waitForFunction(() => 'CVMWeb' in window);
  return page;
}

async function approveInSecondTab(origin: string): Promise<void> {
  const tab = await context.newPage();
  await tab.goto(bridge.service.consentUrl);
  for (let i = 0; i < 150 && !(await tab.locator(`section[data-origin="${origin}"]`).count()); i++) {
    await new Promise((r) => setTimeout(r, 100));
    await tab.reload();
  }
  await tab.locator(`section[data-origin="${origin}"] button[value="allow-once"]`).click();
  await tab.waitForURL(/notice=/, { timeout: 5000 });
  expect(await tab.textContent('.notice')).toContain('allow-once');
  await tab.close();
}

describe.skipIf(!existsSync(CHROMIUM))('in Chromium', { timeout: 90_000 }, () => {
  it('a page of another origin requests a session, is approved in a second tab, runs the lifecycle and re-attaches after reload', async () => {
    const page = await sitePage();
    const origin = `http://127.0.0.1:${sitePort}`;
    const url = `http://127.0.0.1:${bridge.service.port}`;
    await page.evaluate(
      ({ url }) => {
        const w = window as unknown as Record<string, unknown>;
        w['consent'] = [];
        w['request'] = (async () => {
          const bridge = await (w['CVMWeb'] as { connect: (o: unknown) => Promise<unknown> }).connect({
            url,
            onConsentRequired: (u: string) => (w['consent'] as string[]).push(u),
          });
          w['bridge'] = bridge;
          return (bridge as { requestSession: (n: string, k: string) => Promise<unknown> }).requestSession(
            'e2e',
            'k1',
          );
        })();
      },
      { url },
    );
    await approveInSecondTab(origin);
    const first = await page.evaluate(
      async ({ events }) => {
        const w = window as unknown as Win;
        const session = await w['request'];
        w['session'] = session;
        const seen: string[] = [];
        for (const name of events) {
          session.addEventListener(name, (...args: unknown[]) =>
            seen.push(name === 'stateChanged' ? `state:${args[0]}` : name === 'progress' ? 'progress' : name),
          );
        }
        const states: number[] = [];
        await session.open({ cpus: 1, ram: 256 });
        states.push(session.state);
        await session.start('[cernvm]\nusers=user:users:s3cr3t');
        states.push(session.state);
        await session.setExecutionCap(40);
        await session.setProperty('greeting', 'hello');
        const greeting = await session.getProperty('greeting');
        await session.pause();
        states.push(session.state);
        await session.resume();
        await session.stop();
        await session.start();
        let wrongKey = 0;
        await w['bridge'].requestSession('e2e', 'wrong').catch((e: { code: number }) => {
          wrongKey = e.code;
        });
        return {
          seen,
          states,
          greeting,
          cap: session.executionCap,
          consent: w['consent'],
          name: w['bridge'].hypervisorName,
          wrongKey,
        };
      },
      { events: lifecycleEvents },
    );
    expect(first.name).toBe('mock');
    expect(first.consent).toEqual([bridge.service.consentUrl]);
    expect(first.states).toEqual([2, 4, 6]);
    expect(first.greeting).toBe('hello');
    expect(first.cap).toBe(40);
    expect(first.wrongKey).toBe(-20);
    expect(first.seen.filter((e) => !e.startsWith('state') && e !== 'progress')).toEqual([
      'open',
      'start',
      'pause',
      'resume',
      'stop',
      'start',
    ]);
    expect(first.seen.filter((e) => e.startsWith('state'))).toEqual([
      'state:1',
      'state:2',
      'state:3',
      'state:4',
      'state:6',
      'state:4',
      'state:2',
      'state:3',
      'state:4',
    ]);
    expect(first.seen.indexOf('progress')).toBeLessThan(first.seen.indexOf('open'));

    // Reload: the page re-attaches with name + key, without being asked again.
    await page.reload();
    await page.waitForFunction(() => 'CVMWeb' in window);
    const second = await page.evaluate(
      async ({ url, events }) => {
        const w = window as unknown as Win;
        const bridge = await w['CVMWeb'].connect({ url });
        const session = await bridge.requestSession('e2e', 'k1');
        const before = { state: session.state, cap: session.executionCap };
        const seen: string[] = [];
        for (const name of events) session.addEventListener(name, () => seen.push(name));
        await session.hibernate();
        const hibernated = session.hibernated;
        await session.start();
        await session.close();
        return {
          before,
          hibernated,
          seen: seen.filter((e) => e !== 'progress' && e !== 'stateChanged'),
          state: session.state,
        };
      },
      { url, events: lifecycleEvents },
    );
    expect(second.before).toEqual({ state: 4, cap: 40 });
    expect(second.hibernated).toBe(true);
    expect(second.seen).toEqual(['hibernate', 'start', 'close']);
    expect(second.state).toBe(0);
    expect(bridge.service.consent.pending()).toEqual([]);
    await page.close();
  });

  it('an unapproved origin is refused when the person denies, then throttled', async () => {
    const page = await context.newPage();
    const origin = `http://localhost:${sitePort}`;
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => 'CVMWeb' in window);
    const url = `http://127.0.0.1:${bridge.service.port}`;
    await page.evaluate(
      ({ url }) => {
        const w = window as unknown as Win;
        w['results'] = [];
        w['go'] = async () => {
          w['bridgeObj'] ??= await w['CVMWeb'].connect({ url });
          const bridge = w['bridgeObj'];
          return bridge.requestSession('nope', 'k').then(
            () => 0,
            (e: { code: number; details: { reason: string } }) => `${e.code}:${e.details.reason}`,
          );
        };
      },
      { url },
    );
    for (let i = 0; i < 2; i++) {
      const result = page.evaluate(() => (window as unknown as Win)['go']());
      // Generous waits: on a loaded 2-core CI machine the request can take seconds to arrive.
      for (let j = 0; j < 750 && !bridge.service.consent.pending().some((r) => r.origin === origin); j++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(bridge.service.consent.pending().map((r) => r.origin)).toContain(origin);
      const tab = await context.newPage();
      await tab.goto(bridge.service.consentUrl);
      await tab.locator(`section[data-origin="${origin}"] button[value="deny"]`).click();
      await tab.close();
      expect(await result).toBe('-10:denied');
    }
    expect(await page.evaluate(() => (window as unknown as Win)['go']())).toBe('-10:throttled');
    await page.close();
  });

  it('the test page shows the bridge and drives a session (screenshot)', async () => {
    const page = await context.newPage();
    await page.goto(bridge.service.url);
    await page.waitForSelector('body[data-ready="true"]');
    expect(await page.textContent('#hypervisor')).toBe('mock 1.0.0');
    await page.click('#request');
    await page.waitForSelector('.v-state');
    await page.click('#open');
    await page.waitForFunction(() => document.querySelector('.v-state')?.textContent === '2 (Open)');
    await page.click('#start');
    await page.waitForFunction(() => document.querySelector('.v-state')?.textContent === '4 (Started)');
    await page.fill('#cap', '70');
    await page.click('#setCap');
    await page.waitForFunction(() => document.querySelector('.v-executionCap')?.textContent === '70');
    const log = await page.textContent('#log');
    expect(log).toContain('event open()');
    expect(log).toContain('event progress(');
    expect(log).toContain('event start()');
    const file = join(shots, 'test-page.png');
    await page.screenshot({ path: file, fullPage: true });
    const png = await readFile(file);
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect(png.readUInt32BE(16)).toBeGreaterThanOrEqual(1000);
    expect(png.readUInt32BE(20)).toBeGreaterThanOrEqual(800);
    expect(png.length).toBeGreaterThan(30_000);
    await page.click('#close');
    await page.waitForFunction(() => document.querySelector('.v-state')?.textContent === '0 (Closed)');
    await page.close();
  });
});
