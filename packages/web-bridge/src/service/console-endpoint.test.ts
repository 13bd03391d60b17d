import { ErrorCode, GUEST_REPORT_PATH } from '@cvmweb/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { RawClient, startTestBridge, type TestBridge } from '../../test/bridge-test-support.js';
import type { ConsoleTicket, ServerFrame } from '../protocol/server-frame.js';
import { ConsoleTokens } from './console-tokens.js';

let bridge: TestBridge | undefined;
const clients: RawClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) await client.close();
  await bridge?.close();
  bridge = undefined;
});

/** A console WebSocket's received bytes, read by exact counts, and how it closed. */
class ConsoleSocket {
  readonly ws: WebSocket;
  #buffer = Buffer.alloc(0);
  #wake: (() => void) | undefined;
  closed: Promise<{ code: number; reason: string }>;

  constructor(url: string, origin: string) {
    this.ws = new WebSocket(url, { origin });
    this.ws.on('message', (data: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, data]);
      this.#wake?.();
    });
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        this.#wake?.();
        resolve({ code, reason: reason.toString() });
      });
    });
  }

  async read(n: number): Promise<Buffer> {
    while (this.#buffer.length < n) {
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error('the console closed');
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
    const bytes = this.#buffer.subarray(0, n);
    this.#buffer = this.#buffer.subarray(n);
    return bytes;
  }

  send(bytes: number[] | Buffer): void {
    this.ws.send(Buffer.from(bytes));
  }

  /** The page's side of RFB 3.8 with security None up to ServerInit: the screen's size. */
  async handshake(): Promise<{ width: number; height: number }> {
    expect((await this.read(12)).toString('latin1')).toBe('RFB 003.008\n');
    this.send(Buffer.from('RFB 003.008\n', 'latin1'));
    const count = (await this.read(1))[0]!;
    expect([...(await this.read(count))]).toEqual([1]); // security None only: no password asked
    this.send([1]);
    expect((await this.read(4)).readUInt32BE(0)).toBe(0);
    this.send([1]); // ClientInit, shared
    const init = await this.read(24);
    await this.read(init.readUInt32BE(20)); // the desktop's name
    return { width: init.readUInt16BE(0), height: init.readUInt16BE(2) };
  }
}

const u16 = (n: number) => [n >> 8, n & 0xff];

async function runningSession(client: RawClient, name = 'console') {
  const requested = (await client.request({ op: 'requestSession', name, key: 'k' })) as Extract<
    ServerFrame,
    { type: 'result' }
  >;
  const session = (requested.value as { id: string }).id;
  expect((await client.request({ op: 'open', session })).type).toBe('result');
  expect((await client.request({ op: 'start', session, userData: '' })).type).toBe('result');
  return session;
}

async function ticket(client: RawClient, session: string): Promise<ConsoleTicket> {
  const answer = await client.request({ op: 'console', session });
  if (answer.type !== 'result') throw new Error(`console refused: ${JSON.stringify(answer)}`);
  return answer.value as ConsoleTicket;
}

function errorCode(frame: ServerFrame): number | undefined {
  return frame.type === 'error' ? frame.error.code : undefined;
}

describe('the console endpoint', () => {
  it('relays the display to the owner page with security None: pixels arrive and typed keys reach the guest', async () => {
    bridge = await startTestBridge();
    const own = `http://127.0.0.1:${bridge.service.port}`;
    const client = await RawClient.open(bridge.service.port, own);
    clients.push(client);
    const session = await runningSession(client);
    const { token, path, expiresInMs } = await ticket(client, session);
    expect(path).toBe('/console');
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(expiresInMs).toBe(30_000);
    const console = new ConsoleSocket(`ws://127.0.0.1:${bridge.service.port}${path}?token=${token}`, own);
    expect(await console.handshake()).toEqual({ width: 320, height: 200 });
    await vi.waitFor(() => expect(bridge!.service.consoles).toBe(1));
    // FramebufferUpdateRequest, whole screen, not incremental: one raw rectangle of 32-bit pixels.
    console.send([3, 0, ...u16(0), ...u16(0), ...u16(320), ...u16(200)]);
    const update = await console.read(4);
    expect(update[0]).toBe(0);
    const header = await console.read(12);
    expect([header.readUInt16BE(4), header.readUInt16BE(6), header.readInt32BE(8)]).toEqual([320, 200, 0]);
    const pixels = await console.read(320 * 200 * 4);
    expect(pixels.some((byte) => byte !== 0)).toBe(true);
    // KeyEvent down and up for "h", "i".
    for (const key of [0x68, 0x69]) {
      console.send([4, 1, 0, 0, 0, 0, ...u16(key)]);
      console.send([4, 0, 0, 0, 0, 0, ...u16(key)]);
    }
    const live = await bridge.cvmweb.session(session);
    const apiURL = await vi.waitFor(() => {
      expect(live?.apiURL).toBeTruthy();
      return live!.apiURL;
    });
    await vi.waitFor(async () => {
      const report = (await (await fetch(new URL(GUEST_REPORT_PATH, apiURL))).json()) as { keys: string };
      expect(report.keys).toBe('hi');
    });
    // Stopping the VM closes the console normally.
    expect((await client.request({ op: 'stop', session })).type).toBe('result');
    expect((await console.closed).code).toBe(1000);
    await vi.waitFor(() => expect(bridge!.service.consoles).toBe(0));
  });

  it('refuses a used token, another origin’s use of a token and a made-up token with 4010 (NOT_ALLOWED)', async () => {
    bridge = await startTestBridge({ policy: { origins: { 'https://other.example': 'allow' } } });
    const { port } = bridge.service;
    const own = `http://127.0.0.1:${port}`;
    const client = await RawClient.open(port, own);
    clients.push(client);
    const session = await runningSession(client);
    const first = await ticket(client, session);
    const used = new ConsoleSocket(`ws://127.0.0.1:${port}/console?token=${first.token}`, own);
    await used.handshake();
    const again = new ConsoleSocket(`ws://127.0.0.1:${port}/console?token=${first.token}`, own);
    expect(await again.closed).toEqual({ code: 4010, reason: 'NOT_ALLOWED' });
    // Another origin holding the owner's token: refused, and the token is spent.
    const second = await ticket(client, session);
    const stolen = new ConsoleSocket(
      `ws://127.0.0.1:${port}/console?token=${second.token}`,
      'https://other.example',
    );
    expect((await stolen.closed).code).toBe(4010);
    const late = new ConsoleSocket(`ws://127.0.0.1:${port}/console?token=${second.token}`, own);
    expect((await late.closed).code).toBe(4010);
    const madeUp = new ConsoleSocket(`ws://127.0.0.1:${port}/console?token=${'A'.repeat(43)}`, own);
    expect((await madeUp.closed).code).toBe(4010);
    const none = new ConsoleSocket(`ws://127.0.0.1:${port}/console`, own);
    expect((await none.closed).code).toBe(4010);
    expect(bridge.service.consoles).toBe(1);
    used.ws.close();
    await vi.waitFor(() => expect(bridge!.service.consoles).toBe(0));
  });

  it('answers NOT_ALLOWED for another origin’s session, INVALID_STATE when not running, and after a revocation', async () => {
    bridge = await startTestBridge({ policy: { origins: { 'https://other.example': 'allow' } } });
    const { port } = bridge.service;
    const owner = await RawClient.open(port, 'https://other.example');
    const stranger = await RawClient.open(port, 'https://stranger.example');
    clients.push(owner, stranger);
    const session = await runningSession(owner);
    expect(errorCode(await stranger.request({ op: 'console', session }))).toBe(ErrorCode.NOT_ALLOWED);
    expect(errorCode(await stranger.request({ op: 'console', session: 'no-such-id' }))).toBe(
      ErrorCode.NOT_ALLOWED,
    );
    await ticket(owner, session);
    expect((await owner.request({ op: 'pause', session })).type).toBe('result');
    await ticket(owner, session); // a paused VM still shows its screen
    expect((await owner.request({ op: 'stop', session })).type).toBe('result');
    expect(errorCode(await owner.request({ op: 'console', session }))).toBe(ErrorCode.INVALID_STATE);
    expect((await owner.request({ op: 'start', session, userData: '' })).type).toBe('result');
    await bridge.policy.remember('https://other.example', 'deny').catch(() => undefined);
    await bridge.service.consent.revoke('https://other.example');
    expect(errorCode(await owner.request({ op: 'console', session }))).toBe(ErrorCode.NOT_ALLOWED);
  });

  it('closes an open console with 4010 and refuses its unused tokens when the person revokes the site', async () => {
    bridge = await startTestBridge({ policy: { origins: { 'https://other.example': 'allow' } } });
    const { port } = bridge.service;
    const owner = await RawClient.open(port, 'https://other.example');
    clients.push(owner);
    const session = await runningSession(owner);
    const open = await ticket(owner, session);
    const unused = await ticket(owner, session);
    const console = new ConsoleSocket(
      `ws://127.0.0.1:${port}/console?token=${open.token}`,
      'https://other.example',
    );
    await console.handshake();
    await bridge.service.consent.revoke('https://other.example');
    expect((await console.closed).code).toBe(4010);
    const late = new ConsoleSocket(
      `ws://127.0.0.1:${port}/console?token=${unused.token}`,
      'https://other.example',
    );
    expect((await late.closed).code).toBe(4010);
    await vi.waitFor(() => expect(bridge!.service.consoles).toBe(0));
  });

  it('answers NOT_SUPPORTED when the driver has no display', async () => {
    bridge = await startTestBridge({ mock: { display: false } });
    const own = `http://127.0.0.1:${bridge.service.port}`;
    const client = await RawClient.open(bridge.service.port, own);
    clients.push(client);
    const session = await runningSession(client);
    expect(errorCode(await client.request({ op: 'console', session }))).toBe(ErrorCode.NOT_SUPPORTED);
  });

  it('closes the console when the page’s bridge connection ends, and refuses its unused tokens', async () => {
    bridge = await startTestBridge();
    const { port } = bridge.service;
    const own = `http://127.0.0.1:${port}`;
    const client = await RawClient.open(port, own);
    const session = await runningSession(client);
    const open = await ticket(client, session);
    const unused = await ticket(client, session);
    const console = new ConsoleSocket(`ws://127.0.0.1:${port}/console?token=${open.token}`, own);
    await console.handshake();
    await client.close();
    expect((await console.closed).code).toBe(1001);
    const late = new ConsoleSocket(`ws://127.0.0.1:${port}/console?token=${unused.token}`, own);
    expect((await late.closed).code).toBe(4010);
  });
});

describe('ConsoleTokens', () => {
  const live = new AbortController().signal;
  const grant = { origin: 'https://a.example', session: {} as never, signal: live };

  it('gives a token once, within its time, while its connection lasts', () => {
    let now = 1000;
    const tokens = new ConsoleTokens({ ttlMs: 500, now: () => now });
    const a = tokens.issue(grant);
    const b = tokens.issue(grant);
    expect(a).not.toBe(b);
    expect(tokens.consume(a)).toMatchObject({ origin: 'https://a.example' });
    expect(tokens.consume(a)).toBeUndefined();
    now += 500;
    expect(tokens.consume(b)).toBeUndefined();
    const gone = new AbortController();
    const c = tokens.issue({ ...grant, signal: gone.signal });
    gone.abort();
    expect(tokens.consume(c)).toBeUndefined();
    expect(tokens.consume(null)).toBeUndefined();
  });
});
