// The daemon through the bridge: a real IdleDaemon on the mock driver with a fake idle source.
import { DaemonFlags, ErrorCode, SessionState } from '@cvmweb/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  connectClient,
  RawClient,
  startTestBridge,
  type TestBridge,
} from '../../test/bridge-test-support.js';
import type { CVMWebBridge } from '../client/cvmweb-bridge.js';
import type { CVMWebDaemonAccess } from '../client/cvmweb-daemon-access.js';
import type { TimelineEntry, TimelineResult } from '../protocol/server-frame.js';
import { BridgeService } from './bridge-service.js';

const PAGE = 'http://127.0.0.2:8080';
const OTHER = 'http://localhost:9090';
const ADMIN = 'https://admin.example';

let bridge: TestBridge | undefined;
const clients: { close(): unknown }[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  await bridge?.close();
  bridge = undefined;
});

async function start(daemon = {}) {
  bridge = await startTestBridge({
    policy: { origins: { [PAGE]: 'allow', [OTHER]: 'allow' }, privileged: [ADMIN] },
    daemon,
  });
  return bridge;
}

async function client(origin: string): Promise<CVMWebBridge> {
  const c = await connectClient(bridge!.service.port, origin);
  clients.push(c);
  return c;
}

async function raw(origin: string): Promise<RawClient> {
  const c = await RawClient.open(bridge!.service.port, origin);
  clients.push(c);
  return c;
}

const codeOf = (promise: Promise<unknown>) =>
  promise.then(
    () => 0,
    (e: { code: number; details?: { reason?: string } }) => `${e.code}:${e.details?.reason ?? ''}`,
  );

describe('requestDaemonAccess through the bridge', () => {
  it('every origin reads isRunning, isSystemIdle and idleTime; only privileged origins control the daemon', async () => {
    const { daemon, idle } = await start();
    const page = await client(PAGE);
    const access = await page.requestDaemonAccess();
    const fields = (a: CVMWebDaemonAccess) => ({
      privileged: a.privileged,
      isRunning: a.isRunning,
      isSystemIdle: a.isSystemIdle,
      idleTime: a.idleTime,
      path: a.path,
    });
    expect(fields(access)).toMatchObject({
      privileged: false,
      isRunning: true,
      isSystemIdle: false,
      idleTime: 3600,
      path: null,
    });
    const denied = `${ErrorCode.NOT_ALLOWED}:privileged`;
    expect(await codeOf(access.setIdleTime(5))).toBe(denied);
    expect(await codeOf(access.stop())).toBe(denied);
    expect(await codeOf(access.start())).toBe(denied);
    expect(daemon!.isRunning).toBe(true);
    expect(daemon!.idleTime).toBe(3600);
    // Assigning idleTime is the original's read-write property for privileged origins only: no silent local change.
    expect(() => {
      access.idleTime = 5;
    }).toThrow(expect.objectContaining({ code: ErrorCode.NOT_ALLOWED }));
    expect(access.idleTime).toBe(3600);
    // The raw frames are refused the same way, for every control.
    const rawPage = await raw(PAGE);
    for (const frame of [
      { op: 'daemon', action: 'stop' },
      { op: 'daemon', action: 'start' },
      { op: 'daemon', action: 'setIdleTime', seconds: 5 },
    ]) {
      expect(await rawPage.request(frame)).toMatchObject({
        type: 'error',
        error: { code: ErrorCode.NOT_ALLOWED, codeName: 'NOT_ALLOWED', details: { reason: 'privileged' } },
      });
    }
    // The original plugin's callback form.
    const viaCallback = await new Promise<CVMWebDaemonAccess>((resolve, reject) => {
      expect(page.requestDaemonAccess(resolve, reject)).toBe(1);
    });
    expect(viaCallback.idleTime).toBe(3600);

    const admin = await client(ADMIN);
    const control = await admin.requestDaemonAccess();
    expect(fields(control)).toMatchObject({ privileged: true, isRunning: true, path: 'in-process' });
    const refused = control.setIdleTime(0);
    // Seen at once, restored when the daemon refuses.
    expect(control.idleTime).toBe(0);
    expect(await codeOf(refused)).toBe(`${ErrorCode.INVALID_USAGE}:`);
    expect(control.idleTime).toBe(3600);
    control.idleTime = 5;
    expect(control.idleTime).toBe(5);
    await vi.waitFor(() => expect(daemon!.idleTime).toBe(5));
    expect((await page.requestDaemonAccess()).idleTime).toBe(5);

    // isSystemIdle follows the idle source.
    idle!.setIdleSeconds(60);
    await expect
      .poll(async () => (await page.requestDaemonAccess()).isSystemIdle, { timeout: 5000 })
      .toBe(true);
    idle!.input();
    await expect
      .poll(async () => (await page.requestDaemonAccess()).isSystemIdle, { timeout: 5000 })
      .toBe(false);

    await control.stop();
    expect(daemon!.isRunning).toBe(false);
    expect(fields(await page.requestDaemonAccess())).toMatchObject({
      isRunning: false,
      isSystemIdle: false,
    });
    await control.start();
    expect((await page.requestDaemonAccess()).isRunning).toBe(true);
  });

  it('a page sets its session’s daemon fields and sees the daemon’s cap as pushed properties', async () => {
    const { idle } = await start();
    const page = await client(PAGE);
    const session = await page.requestSession('job', 'k');
    await session.open({ cpus: 1, ram: 256 });
    await session.start('');
    await session.setDaemonSettings({ controlled: true, minCap: 20, maxCap: 90 });
    expect({
      controlled: session.daemonControlled,
      min: session.daemonMinCap,
      max: session.daemonMaxCap,
    }).toEqual({ controlled: true, min: 20, max: 90 });
    // Active: minCap, pushed to the page without a round trip (a `snapshot` frame).
    await expect.poll(() => session.executionCap, { timeout: 5000 }).toBe(20);
    idle!.setIdleSeconds(7200);
    await expect.poll(() => session.executionCap, { timeout: 5000 }).toBe(90);
    idle!.input();
    await expect.poll(() => session.executionCap, { timeout: 5000 }).toBe(20);

    // The original plugin's property setters: minCap 0 pauses while active (the page sees the pause event).
    const events: string[] = [];
    session.addEventListener('pause', () => events.push('pause'));
    session.addEventListener('error', (_message, code, category) => events.push(`error ${code} ${category}`));
    session.daemonMinCap = 0;
    await expect.poll(() => session.state, { timeout: 5000 }).toBe(SessionState.Paused);
    // An unknown flag bit is refused: the setter fires `error` with INVALID_USAGE.
    session.daemonFlags = 0x8;
    await expect.poll(() => events.length, { timeout: 5000 }).toBeGreaterThanOrEqual(2);
    expect(events).toEqual(['pause', `error ${ErrorCode.INVALID_USAGE} daemon`]);
    session.daemonFlags = DaemonFlags.DF_SUSPEND;
    await expect.poll(() => session.hibernated, { timeout: 5000 }).toBe(true);
    expect(session.daemonFlags).toBe(DaemonFlags.DF_SUSPEND);
  });
});

describe('the timeline frame', () => {
  const kinds = (events: readonly TimelineEntry[]) =>
    events.map((e) =>
      e.kind === 'system'
        ? `system ${e.state}`
        : e.kind === 'daemon'
          ? `daemon ${e.running}`
          : `${e.kind} ${e.name}`,
    );

  it('gives every origin the idle/active part and only its own sessions; privileged origins see all', async () => {
    const { idle } = await start();
    const page = await client(PAGE);
    const other = await client(OTHER);
    const admin = await client(ADMIN);
    const mine = await page.requestSession('mine', 'k');
    const theirs = await other.requestSession('theirs', 'k');
    for (const s of [mine, theirs]) {
      await s.open({ cpus: 1, ram: 256 });
      await s.start('');
      await s.setDaemonSettings({ controlled: true, minCap: 0 });
    }
    await expect
      .poll(() => [mine.state, theirs.state], { timeout: 5000 })
      .toEqual([SessionState.Paused, SessionState.Paused]);
    idle!.setUnknown('no display at /tmp/.X11-unix');
    await expect.poll(() => bridge!.daemon!.system, { timeout: 5000 }).toBe('unknown');

    const pageView = await page.timeline();
    expect(pageView).toMatchObject({ truncated: false, subscribed: false });
    expect(Math.abs(pageView.now - Date.now())).toBeLessThan(5000);
    const pageKinds = kinds(pageView.events);
    expect(pageKinds).toContain('system active');
    expect(pageKinds).toContain('system unknown');
    expect(pageKinds).toContain('daemon true');
    expect(pageKinds).toContain('session mine');
    expect(pageKinds).toContain('action mine');
    expect(pageKinds.some((k) => k.endsWith('theirs'))).toBe(false);
    // Host details (the idle source's reason) stay with privileged origins.
    expect(JSON.stringify(pageView)).not.toContain('X11');
    expect(pageView.events.find((e) => e.kind === 'action')).toMatchObject({
      kind: 'action',
      sessionId: mine.id,
      action: 'pause',
      ok: true,
    });

    const otherKinds = kinds((await other.timeline()).events);
    expect(otherKinds).toContain('action theirs');
    expect(otherKinds.some((k) => k.endsWith('mine'))).toBe(false);

    const adminView = await admin.timeline();
    expect(kinds(adminView.events)).toEqual(expect.arrayContaining(['action mine', 'action theirs']));
    expect(JSON.stringify(adminView)).toContain('no display at /tmp/.X11-unix');

    // `since` filters by time.
    const last = pageView.events.at(-1)!;
    expect((await page.timeline(last.at)).events.every((e) => e.at >= last.at)).toBe(true);
    expect((await page.timeline(Date.now() + 60_000)).events).toEqual([]);
  });

  it('pushes new entries to subscribed connections only, filtered the same way, until unsubscribed', async () => {
    const { idle } = await start();
    const page = await raw(PAGE);
    const other = await raw(OTHER);
    const bystander = await raw(OTHER);
    const requested = await page.request({ op: 'requestSession', name: 'watched', key: 'k' });
    const id = (requested as { value: { id: string } }).value.id;
    await page.request({ op: 'open', session: id, requirements: { cpus: 1, ram: 256 } });
    await page.request({ op: 'start', session: id });
    const subscribed = await page.request({ op: 'timeline', since: Date.now() + 60_000, subscribe: true });
    expect(subscribed).toMatchObject({ type: 'result', value: { events: [], subscribed: true } });
    expect(await other.request({ op: 'timeline', subscribe: true })).toMatchObject({
      value: { subscribed: true },
    });
    await page.request({
      op: 'setDaemon',
      session: id,
      settings: { controlled: true, minCap: 0, maxCap: 100 },
    });
    const action = await page.next((f) => f.type === 'timeline' && f.event.kind === 'action');
    expect(action).toMatchObject({
      type: 'timeline',
      event: { kind: 'action', sessionId: id, action: 'pause' },
    });
    idle!.setIdleSeconds(7200);
    await page.next((f) => f.type === 'timeline' && f.event.kind === 'system' && f.event.state === 'idle');
    await other.next((f) => f.type === 'timeline' && f.event.kind === 'system' && f.event.state === 'idle');
    await page.next((f) => f.type === 'timeline' && f.event.kind === 'action' && f.event.action === 'resume');
    // The other origin saw the system change, never the page's session.
    expect(
      other.frames.some(
        (f) => f.type === 'timeline' && (f.event.kind === 'session' || f.event.kind === 'action'),
      ),
    ).toBe(false);
    expect(bystander.frames.some((f) => f.type === 'timeline')).toBe(false);

    expect(await page.request({ op: 'timeline', subscribe: false })).toMatchObject({
      value: { subscribed: false },
    });
    page.frames.length = 0;
    idle!.input();
    await other.next((f) => f.type === 'timeline' && f.event.kind === 'system' && f.event.state === 'active');
    await expect.poll(() => bridge!.cvmweb.sessions()[0]?.state, { timeout: 5000 }).toBe(SessionState.Paused);
    expect(await page.request({ op: 'ping' })).toMatchObject({ value: 'pong' });
    expect(page.frames.some((f) => f.type === 'timeline')).toBe(false);
  });

  it('the client fires `timeline` events until it stops watching', async () => {
    const first = await start();
    const page = await client(PAGE);
    const seen: TimelineEntry[] = [];
    page.addEventListener('timeline', (entry) => seen.push(entry));
    const initial: TimelineResult = await page.watchTimeline();
    expect(kinds(initial.events)).toEqual(['daemon true', 'system active']);
    first.idle!.setIdleSeconds(7200);
    await expect.poll(() => seen.length, { timeout: 5000 }).toBeGreaterThan(0);
    expect(kinds(seen)).toEqual(['system idle']);
    await page.unwatchTimeline();
    first.idle!.input();
    await expect.poll(() => first.daemon!.system, { timeout: 5000 }).toBe('active');
    // A round trip on the same connection: a frame pushed for that change would have come before its answer.
    await page.requestDaemonAccess();
    expect(kinds(seen)).toEqual(['system idle']);
  });

  it('the client subscribes again after the service restarts and fires the entries it missed', async () => {
    const first = await start();
    const page = await client(PAGE);
    const seen: TimelineEntry[] = [];
    page.addEventListener('timeline', (entry) => seen.push(entry));
    await page.watchTimeline();
    const reconnected = new Promise<void>((resolve) => page.addEventListener('reconnect', resolve));
    const port = first.service.port;
    await first.service.stop();
    // Missed while the service is down.
    first.idle!.setIdleSeconds(7200);
    await expect.poll(() => first.daemon!.system, { timeout: 5000 }).toBe('idle');
    const again = new BridgeService({
      cvmweb: first.cvmweb,
      port,
      policy: first.policy,
      version: 'test',
      timeline: first.daemon!,
    });
    await again.start();
    try {
      await reconnected;
      expect(kinds(seen)).toEqual(['system idle']);
      first.idle!.input();
      await expect.poll(() => seen.length, { timeout: 5000 }).toBeGreaterThan(1);
      expect(kinds(seen)).toEqual(['system idle', 'system active']);
    } finally {
      for (const c of clients.splice(0)) await c.close();
      await again.stop();
    }
  });

  it('answers NOT_IMPLEMENTED when no daemon runs with the service, and refuses bad fields', async () => {
    bridge = await startTestBridge();
    const page = await raw(PAGE);
    expect(await page.request({ op: 'timeline' })).toMatchObject({
      error: { code: ErrorCode.NOT_IMPLEMENTED },
    });
    expect(await page.request({ op: 'timeline', since: 'yesterday' })).toMatchObject({
      error: { code: ErrorCode.INVALID_USAGE, details: { reason: 'schema' } },
    });
    expect(await page.request({ op: 'timeline', subscribe: true, session: 'x' })).toMatchObject({
      error: { code: ErrorCode.INVALID_USAGE },
    });
  });
});
