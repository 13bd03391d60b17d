// What pages may not learn or do: host details in errors, limits under concurrent frames,
// revoked origins, the consent page's words, the keyboard presence; and a service that stops
// and survives its own failures.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, SessionState } from '@cvmweb/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  connectClient,
  consentPageStamp,
  decideConsent,
  RawClient,
  startTestBridge,
  type TestBridge,
} from '../../test/bridge-test-support.js';
import { defaultLimits } from '../policy/bridge-policy.js';
import type { ServerFrame } from '../protocol/server-frame.js';

const PAGE = 'http://127.0.0.2:8080';
const STRANGER = 'http://stranger.example';
const ADMIN = 'https://admin.example';

let bridge: TestBridge | undefined;
const clients: { close(): unknown }[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  await bridge?.close();
  bridge = undefined;
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function raw(origin: string): Promise<RawClient> {
  const c = await RawClient.open(bridge!.service.port, origin);
  clients.push(c);
  return c;
}

async function sessionOf(client: RawClient, name: string): Promise<string> {
  const answer = await client.request({ op: 'requestSession', name, key: 'k' });
  expect(answer).toMatchObject({ type: 'result' });
  return (answer as { value: { id: string } }).value.id;
}

function http(
  port: number,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>(
    (resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers ?? {} },
        (res) => {
          let body = '';
          res.on('data', (c) => {
            body += c;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        },
      );
      req.on('error', reject);
      req.end(options.body);
    },
  );
}

describe('host details stay in the service', () => {
  const HOST_PATH = '/home/person/.local/state/cvmweb/vms/0123abcd/scratch.qcow2';
  const COMMAND = 'virsh --connect qemu:///system start cvmweb-0123abcd';
  const driverMessage = `${COMMAND} failed: cannot open ${HOST_PATH}: Permission denied`;

  it('pages get a fixed message per code plus the action, no debug events; privileged origins get the driver text', async () => {
    bridge = await startTestBridge({
      policy: { origins: { [PAGE]: 'allow', [ADMIN]: 'allow' }, privileged: [ADMIN] },
    });
    const page = await raw(PAGE);
    const id = await sessionOf(page, 'driven');
    expect(await page.request({ op: 'open', session: id })).toMatchObject({ type: 'result' });
    bridge.state.inject({ step: 'start', code: 'EXTERNAL', message: driverMessage });
    const failed = await page.request({ op: 'start', session: id });
    expect(failed).toMatchObject({
      type: 'error',
      error: {
        code: ErrorCode.EXTERNAL,
        codeName: 'EXTERNAL',
        message: 'start failed: a program the hypervisor needs failed',
      },
    });
    // Events of an action arrive before its result: every frame the page got is here.
    const events = page.frames.filter((f) => f.type === 'event');
    expect(events.map((f) => f.event)).toContain('startError');
    expect(events.find((f) => f.event === 'startError')).toMatchObject({
      args: ['start failed: a program the hypervisor needs failed', ErrorCode.EXTERNAL],
    });
    expect(events.some((f) => f.event === 'debug')).toBe(false);
    const everything = JSON.stringify([...page.frames, failed]);
    expect(everything).not.toContain(HOST_PATH);
    expect(everything).not.toContain('virsh');
    expect(everything).not.toContain('Permission denied');

    // The limits the service writes for pages keep their words (the limit is named).
    expect(await page.request({ op: 'open', session: id, requirements: { cpus: 64 } })).toMatchObject({
      error: { message: expect.stringContaining('at most 2 cpus') },
    });

    const admin = await raw(ADMIN);
    const adminId = await sessionOf(admin, 'admin');
    await admin.request({ op: 'open', session: adminId });
    bridge.state.inject({ step: 'start', code: 'EXTERNAL', message: driverMessage });
    expect(await admin.request({ op: 'start', session: adminId })).toMatchObject({
      error: { code: ErrorCode.EXTERNAL, message: expect.stringContaining(HOST_PATH) },
    });
    const adminEvents = admin.frames.filter((f) => f.type === 'event');
    expect(adminEvents.some((f) => f.event === 'debug')).toBe(true);
    expect(JSON.stringify(adminEvents.find((f) => f.event === 'startError'))).toContain(HOST_PATH);
  });
});

describe('limits under concurrent frames', () => {
  it('counts session names and opens in flight: exactly `limit` of N concurrent requests pass', async () => {
    bridge = await startTestBridge({
      policy: { origins: { [PAGE]: 'allow' }, limits: { ...defaultLimits, sessions: 2, names: 5 } },
    });
    const page = await raw(PAGE);
    const requested = await Promise.all(
      Array.from({ length: 8 }, (_, i) => page.request({ op: 'requestSession', name: `n${i}`, key: 'k' })),
    );
    expect(requested.filter((f) => f.type === 'result')).toHaveLength(5);
    const refusedNames = requested.filter((f) => f.type === 'error');
    expect(refusedNames).toHaveLength(3);
    for (const frame of refusedNames) {
      expect(frame).toMatchObject({
        error: {
          code: ErrorCode.NOT_ALLOWED,
          message: expect.stringContaining('at most 5 session names'),
          details: { field: 'names', limit: 5 },
        },
      });
    }
    expect(bridge.cvmweb.sessions(PAGE)).toHaveLength(5);

    const made = requested.flatMap((f) =>
      f.type === 'result' ? [f.value as { id: string; name: string }] : [],
    );
    // A second connection of the same origin holds the last one: the count is shared.
    const second = await raw(PAGE);
    const last = made.pop()!;
    expect(await sessionOf(second, last.name)).toBe(last.id);
    const opened = await Promise.all([
      ...made.map(({ id }) => page.request({ op: 'open', session: id })),
      second.request({ op: 'open', session: last.id }),
    ]);
    expect(opened.filter((f) => f.type === 'result')).toHaveLength(2);
    const refusedOpens = opened.filter((f) => f.type === 'error');
    expect(refusedOpens).toHaveLength(3);
    for (const frame of refusedOpens) {
      expect(frame).toMatchObject({
        error: {
          code: ErrorCode.NOT_ALLOWED,
          message: expect.stringContaining('at most 2 open sessions'),
          details: { field: 'sessions', limit: 2 },
        },
      });
    }
    expect(bridge.cvmweb.sessions(PAGE).filter((r) => r.state !== SessionState.Closed)).toHaveLength(2);
  });
});

describe('revocation and denial', () => {
  it('a revoked or denied origin can neither act on nor re-attach its sessions until allowed again', async () => {
    bridge = await startTestBridge();
    const page = await raw(PAGE);
    const first = page.request({ op: 'requestSession', name: 'a', key: 'k' });
    await decideConsent(bridge, PAGE, 'allow-always');
    const id = ((await first) as { value: { id: string } }).value.id;
    expect(await page.request({ op: 'open', session: id })).toMatchObject({ type: 'result' });
    expect(await page.request({ op: 'getProperty', session: id, name: 'x' })).toMatchObject({
      type: 'result',
    });

    await bridge.service.consent.revoke(PAGE);
    expect(bridge.policy.decision(PAGE)).toBe('ask');
    expect(await page.request({ op: 'getProperty', session: id, name: 'x' })).toMatchObject({
      error: { code: ErrorCode.NOT_ALLOWED, details: { reason: 'revoked' } },
    });
    // Re-attaching with name and key asks the person again; a denial refuses it.
    const reattach = page.request({ op: 'requestSession', name: 'a', key: 'k' });
    await page.next((f) => f.type === 'consent');
    await decideConsent(bridge, PAGE, 'deny');
    expect(await reattach).toMatchObject({
      error: { code: ErrorCode.NOT_ALLOWED, details: { reason: 'denied' } },
    });
    // Also from a fresh connection (a reload), and the session's actions stay refused.
    const reloaded = await raw(PAGE);
    const again = reloaded.request({ op: 'requestSession', name: 'a', key: 'k' });
    await reloaded.next((f) => f.type === 'consent');
    expect(await page.request({ op: 'stop', session: id })).toMatchObject({
      error: { code: ErrorCode.NOT_ALLOWED },
    });
    await decideConsent(bridge, PAGE, 'allow-once');
    expect(await again).toMatchObject({ type: 'result', value: { id } });
    expect(await page.request({ op: 'getProperty', session: id, name: 'x' })).toMatchObject({
      type: 'result',
    });
  });
});

describe('the consent page', () => {
  it('shows only fixed notices chosen by code, never the words of its query', async () => {
    bridge = await startTestBridge({ service: { consentClickDelayMs: 0 } });
    const { port } = bridge.service;
    const forged = await http(
      port,
      `/consent?notice=${encodeURIComponent('Your computer is infected: call 0800 123 456')}`,
    );
    expect(forged.status).toBe(200);
    expect(forged.body).not.toContain('0800');
    expect(forged.body).not.toContain('class="notice"');
    const known = await http(port, '/consent?notice=forgot');
    expect(known.body).toContain(
      '<p class="notice">The remembered decision was forgotten: the site will be asked again.</p>',
    );

    const client = await raw(PAGE);
    const pending = client.request({ op: 'requestSession', name: 's', key: 'k' });
    await client.next((f) => f.type === 'consent');
    const [request] = bridge.service.consent.pending();
    const shown = encodeURIComponent(await consentPageStamp(port));
    const posted = await http(port, '/consent', {
      method: 'POST',
      headers: { origin: `http://127.0.0.1:${port}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: `token=${request!.token}&decision=allow-once&shown=${shown}`,
    });
    expect(posted.status).toBe(303);
    expect(posted.headers['location']).toBe('/consent?notice=allow-once');
    expect((await pending).type).toBe('result');
  });

  it('answers 500 and keeps running when a revocation cannot be written', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cvmweb-policy-'));
    dirs.push(dir);
    const policyFile = join(dir, 'bridge-policy.json');
    await writeFile(policyFile, JSON.stringify({ version: 1, origins: { [PAGE]: 'allow' } }));
    bridge = await startTestBridge({ policyFile });
    const { port } = bridge.service;
    const page = await http(port, '/consent');
    const formToken = /name="form" value="([^"]+)"/.exec(page.body)?.[1];
    expect(formToken).toBeDefined();
    // A directory where the policy file was: the write fails.
    await rm(policyFile);
    await mkdir(policyFile);
    const revoked = await http(port, '/consent/revoke', {
      method: 'POST',
      headers: { origin: `http://127.0.0.1:${port}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: `form=${formToken}&origin=${encodeURIComponent(PAGE)}`,
    });
    expect(revoked.status).toBe(500);
    expect((await http(port, '/info')).status).toBe(200);
    // The revocation holds while the service runs.
    expect(bridge.service.consent.isApproved(PAGE)).toBe(false);
  });
});

describe('the timeline and the person at the keyboard', () => {
  it('nothing for origins without consent; idle/active without idleSeconds for approved ones; all for privileged', async () => {
    bridge = await startTestBridge({
      policy: { origins: { [PAGE]: 'allow' }, privileged: [ADMIN] },
      daemon: {},
    });
    const stranger = await raw(STRANGER);
    const page = await raw(PAGE);
    const admin = await raw(ADMIN);
    expect(await stranger.request({ op: 'timeline', subscribe: true })).toMatchObject({
      type: 'error',
      error: { code: ErrorCode.NOT_ALLOWED, details: { reason: 'consent' } },
    });
    expect(await page.request({ op: 'timeline', subscribe: true })).toMatchObject({
      value: { subscribed: true },
    });
    expect(await admin.request({ op: 'timeline', subscribe: true })).toMatchObject({
      value: { subscribed: true },
    });
    bridge.idle!.setIdleSeconds(7200);
    const idleOf = (f: ServerFrame) =>
      f.type === 'timeline' && f.event.kind === 'system' && f.event.state === 'idle';
    const seenByAdmin = await admin.next(idleOf);
    expect(seenByAdmin).toMatchObject({ event: { idleSeconds: expect.any(Number) } });
    const seenByPage = await page.next(idleOf);
    expect(seenByPage).toMatchObject({ event: { kind: 'system', state: 'idle' } });
    expect(JSON.stringify(seenByPage)).not.toContain('idleSeconds');
    const read = await page.request({ op: 'timeline' });
    expect(JSON.stringify(read)).not.toContain('idleSeconds');
    // The stranger got no timeline frame at all (the ping's answer comes after any pushed frame).
    await stranger.request({ op: 'ping' });
    expect(stranger.frames.some((f) => f.type === 'timeline')).toBe(false);
  });
});

describe('sessions the page released', () => {
  it('are not re-attached by a reconnection, and their events stop', async () => {
    const policy = { origins: { [PAGE]: 'allow' as const } };
    const first = await startTestBridge({ policy });
    bridge = first;
    const { port } = first.service;
    const page = await connectClient(port, PAGE);
    clients.push(page);
    const kept = await page.requestSession('kept', 'k');
    const released = await page.requestSession('released', 'k');
    const seen: string[] = [];
    released.addEventListener('open', () => seen.push('open'));
    await released.release();
    let reconnected = false;
    page.addEventListener('reconnect', () => {
      reconnected = true;
    });
    await first.close(true);
    bridge = await startTestBridge({ policy, state: first.state, stateDir: first.stateDir, port });
    await vi.waitFor(() => expect(reconnected, 'the client reconnects').toBe(true), { timeout: 10_000 });
    // Another page (or program) opens the released session: this page hears nothing of it.
    const other = await raw(PAGE);
    const id = await sessionOf(other, 'released');
    expect(id).toBe(released.id);
    expect(await other.request({ op: 'open', session: id })).toMatchObject({ type: 'result' });
    await kept.open();
    expect(seen).toEqual([]);
    expect(released.state).toBe(SessionState.Closed);
  });
});

describe('properties pushed without a round trip', () => {
  it('a cap or property changed elsewhere reaches the page as a snapshot frame', async () => {
    bridge = await startTestBridge({ policy: { origins: { [PAGE]: 'allow' } } });
    const page = await connectClient(bridge.service.port, PAGE);
    clients.push(page);
    const session = await page.requestSession('watched', 'k');
    await session.open();
    // The same session, driven by a Node program (no daemon, no timeline).
    const local = await bridge.cvmweb.requestSession('watched', 'k', { scope: PAGE });
    await local.setExecutionCap(35);
    await expect.poll(() => session.executionCap, { timeout: 10_000 }).toBe(35);
    await local.setDaemonSettings({ controlled: true, minCap: 10, maxCap: 90 });
    await expect
      .poll(() => [session.daemonControlled, session.daemonMaxCap], { timeout: 10_000 })
      .toEqual([true, 90]);
  });
});

describe('stopping', () => {
  it('does not wait for a client that never answers the close frame', async () => {
    bridge = await startTestBridge();
    const { port } = bridge.service;
    // A raw WebSocket client that completes the handshake, then never reads or answers anything.
    const socket = netConnect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.pause();
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    let handshake = '';
    const upgraded = new Promise<void>((resolve) => {
      const onData = (chunk: Buffer) => {
        handshake += chunk.toString('latin1');
        if (handshake.includes('\r\n\r\n')) {
          socket.off('data', onData);
          socket.pause();
          resolve();
        }
      };
      socket.on('data', onData);
      socket.resume();
    });
    socket.write(
      'GET /bridge HTTP/1.1\r\n' +
        `Host: 127.0.0.1:${port}\r\n` +
        `Origin: ${PAGE}\r\n` +
        'Upgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    await upgraded;
    expect(handshake).toMatch(/^HTTP\/1\.1 101/);
    expect(bridge.service.connections).toBe(1);
    const started = Date.now();
    await bridge.service.stop();
    expect(Date.now() - started).toBeLessThan(5000);
    socket.destroy();
  });
});
