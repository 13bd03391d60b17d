import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Cvmweb, createCvmweb, GUEST_REPORT_PATH, parseGuestReport } from '@cvmweb/core';
import { TEST_SCRYPT_COST } from '@cvmweb/core/testing';
import { kvm } from '@cvmweb/driver-kvm';
import { guestCache, guestEntries } from '@cvmweb/driver-kvm/testing';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  FileServer,
  libvirtUnavailable,
  lockLibvirt,
  purge,
  TEST_POOL,
  TEST_POOL_PATH,
  TEST_URI,
} from '../../test/bridge-kvm-support.js';
import { hasChromium, launchChromium } from '../../test/chromium.js';
import { PolicyStore } from '../policy/policy-store.js';
import { BridgeService } from '../service/bridge-service.js';

// The console in real Chromium on a real guest: the bridge on the KVM driver boots the test guest,
// whose screen (a 1024x768 framebuffer console with a banner) the owner page's console shows, and
// whose report (`keys`) says what the page typed; another origin asking for that console is refused.
const unavailable = await libvirtUnavailable();
/** The session's name: its domain and volumes start with `cvmweb-kcon`. */
const NAME = 'kcon';

// biome-ignore lint/suspicious/noExplicitAny: the page's globals, untyped inside page.evaluate
type Win = Record<string, any>;
/** The browser globals used inside `page.evaluate` (this package compiles without the DOM library). */
declare const window: Win;
declare const document: { getElementById(id: string): unknown };

/** A page of its own loopback origin with the client and a console element. */
async function siteServer(script: string): Promise<{ server: Server; origin: string }> {
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(
      `<!doctype html><title>site</title><script src="${script}"></script>` +
        '<div id="screen" style="width:1024px;height:768px"></div>',
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as { port: number }).port}` };
}

describe.skipIf(unavailable !== undefined || !hasChromium)(
  `the console of a real guest in Chromium${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    let release: () => Promise<void> = async () => undefined;
    let files: FileServer;
    let dir: string;
    let cvmweb: Cvmweb;
    let service: BridgeService;
    let owner: { server: Server; origin: string };
    let other: { server: Server; origin: string };
    let context: BrowserContext;
    let closeChromium: (() => Promise<void>) | undefined;

    beforeAll(async () => {
      release = await lockLibvirt('shared');
      await purge(`cvmweb-${NAME}`);
      files = await new FileServer().start();
      dir = await mkdtemp(join(tmpdir(), 'cvmweb-console-kvm-'));
      cvmweb = await createCvmweb({
        driver: kvm({ uri: TEST_URI, pool: TEST_POOL, poolPath: TEST_POOL_PATH, shutdownTimeoutMs: 8000 }),
        stateDir: await mkdtemp(join(dir, 'state-')),
        secretCost: TEST_SCRYPT_COST,
        images: guestCache(join(dir, 'images'), guestEntries(files, inject('testGuest').files)),
        stopTimeoutMs: 8000,
      });
      // Both origins are allowed (consent given): the other one is refused for not owning the session.
      const policy = await PolicyStore.open({ initial: { origins: {} } });
      service = new BridgeService({ cvmweb, port: 0, policy });
      await service.start();
      const script = `http://127.0.0.1:${service.port}/cvmweb.js`;
      owner = await siteServer(script);
      other = await siteServer(script);
      await policy.remember(owner.origin, 'allow');
      await policy.remember(other.origin, 'allow');
      ({ context, close: closeChromium } = await launchChromium({ width: 1100, height: 900 }));
    }, 15 * 60_000);

    afterAll(async () => {
      await closeChromium?.();
      await service?.stop();
      for (const site of [owner, other]) await new Promise((resolve) => site?.server.close(resolve));
      if (cvmweb) {
        for (const record of cvmweb.sessions()) {
          const session = await cvmweb.session(record.id);
          await session?.close().catch(() => undefined);
        }
        await cvmweb.dispose();
      }
      await purge(`cvmweb-${NAME}`);
      await files?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
      await release();
    }, 180_000);

    async function sitePage(origin: string): Promise<Page> {
      const page = await context.newPage();
      await page.goto(`${origin}/`);
      await page.waitForFunction(() => 'CVMWeb' in window);
      return page;
    }

    it("shows the guest's screen in the owner's canvas, types into the guest, and refuses another origin", async () => {
      const page = await sitePage(owner.origin);
      const url = `http://127.0.0.1:${service.port}`;
      const id: string = await page.evaluate(
        async ({ url, name }) => {
          const bridge = await window['CVMWeb'].connect({ url });
          const session = await bridge.requestSession(name, 'key');
          window['session'] = session;
          await session.open({ cpus: 1, ram: 128, disk: 0, version: 'test-kernel' });
          await session.start('');
          return session.id;
        },
        { url, name: NAME },
      );
      const session = await cvmweb.session(id);
      if (!session) throw new Error('the page’s session is not in the entry point');
      // The guest's API answers once its screen shows the banner and its keyboard is recorded.
      const report = async () => {
        if (session.apiURL === '') return undefined;
        const answer = await fetch(new URL(GUEST_REPORT_PATH, session.apiURL)).catch(() => undefined);
        return answer?.ok ? parseGuestReport(await answer.text()) : undefined;
      };
      await expect.poll(report, { timeout: 180_000, interval: 1000 }).toMatchObject({ keys: '' });

      await page.evaluate(async () => {
        window['view'] = await window['session'].openConsole(document.getElementById('screen'));
      });
      // The canvas has the guest's size and shows its screen: lit pixels in the banner's cells, a
      // black screen below the second line.
      const { cell, banner } = inject('testGuest').screen;
      const canvas = () =>
        page.evaluate(
          ({ bannerWidth, line }) => {
            const element = (document.getElementById('screen') as Win)['querySelector']('canvas');
            if (!element) return { width: 0, height: 0, banner: 0, below: 0 };
            const lit = (x: number, y: number, w: number, h: number) => {
              const pixels = element.getContext('2d').getImageData(x, y, w, h).data;
              let n = 0;
              for (let i = 0; i < pixels.length; i += 4)
                if (pixels[i] + pixels[i + 1] + pixels[i + 2] > 0) n++;
              return n;
            };
            const { width, height } = element;
            return {
              width,
              height,
              banner: lit(0, 0, bannerWidth, line),
              below: height > 2 * line ? lit(0, 2 * line, width, height - 2 * line) : -1,
            };
          },
          { bannerWidth: banner.length * cell.width, line: cell.height },
        );
      await expect.poll(async () => (await canvas()).banner, { timeout: 60_000 }).toBeGreaterThan(0);
      expect(await canvas()).toMatchObject({
        width: inject('testGuest').screen.width,
        height: inject('testGuest').screen.height,
        below: 0,
      });

      // Keys typed in the page reach the guest.
      await page.locator('#screen canvas').click();
      await page.keyboard.type('hi');
      await page.keyboard.press('Enter');
      await expect.poll(async () => (await report())?.keys, { timeout: 60_000, interval: 500 }).toBe('hi\n');

      // Another origin asking for this session's console is refused with NOT_ALLOWED.
      const stranger = await sitePage(other.origin);
      const refusal = await stranger.evaluate(
        ({ port, id }) =>
          new Promise((resolve, reject) => {
            const ws = new window['WebSocket'](`ws://127.0.0.1:${port}/bridge`);
            ws.onerror = () => reject(new Error('the bridge refused the connection'));
            ws.onopen = () => ws.send(JSON.stringify({ v: 1, id: 1, op: 'console', session: id }));
            ws.onmessage = (event: { data: string }) => {
              const frame = JSON.parse(event.data);
              if (frame.id === 1) {
                ws.close();
                resolve(frame);
              }
            };
          }),
        { port: service.port, id },
      );
      expect(refusal).toMatchObject({ type: 'error', error: { code: -10, codeName: 'NOT_ALLOWED' } });

      await page.evaluate(() => window['view'].disconnect());
      await session.close();
    }, 600_000);
  },
);
