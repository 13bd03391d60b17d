import { createServer, type Server } from 'node:http';
import { ErrorCode } from '@cvmweb/core/browser';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { RawClient, startTestBridge, type TestBridge } from '../../test/bridge-test-support.js';
import { PROTOCOL_VERSION } from '../protocol/protocol-version.js';
import { connect } from './connect.js';
import { status } from './status.js';

const PAGE = 'https://site.example';
let bridge: TestBridge | undefined;
let fake: Server | undefined;

afterEach(async () => {
  await bridge?.close();
  bridge = undefined;
  await new Promise((resolve) => (fake ? fake.close(resolve) : resolve(undefined)));
  fake = undefined;
});

const socket = (url: string) => new WebSocket(url, { origin: PAGE }) as never;

/** A service of another version: `/info` and the hello frame say protocol `protocol`. */
async function otherService(protocol: number): Promise<string> {
  fake = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ service: 'cvmweb-bridge', protocol, version: '9.0.0' }));
  });
  const wss = new WebSocketServer({ server: fake });
  wss.on('connection', (ws) => ws.send(JSON.stringify({ v: protocol, type: 'hello', version: '9.0.0' })));
  await new Promise<void>((resolve) => fake!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(fake.address() as { port: number }).port}`;
}

describe('connect and status in Node (no Local Network Access here)', () => {
  it('connects, and status() reports the running service and its protocol', async () => {
    bridge = await startTestBridge({ policy: { origins: { [PAGE]: 'allow' } } });
    const url = `http://127.0.0.1:${bridge.service.port}`;
    expect(await status({ url })).toEqual({
      permission: 'unsupported',
      secureContext: true,
      service: 'running',
      version: expect.any(String),
      protocol: PROTOCOL_VERSION,
      compatible: true,
    });
    const cvmweb = await connect({ url, reconnect: false, createWebSocket: socket });
    expect(cvmweb.hypervisorName).toBe('mock');
    const session = await cvmweb.requestSession('typed', 'k');
    // @ts-expect-error a misspelt event name does not compile (npm run typecheck)
    session.addEventListener('apiAvaliable', () => undefined);
    session.addEventListener('apiAvailable', (ip: string, url: string) => `${ip} ${url}`);
    cvmweb.close();
  });

  it('a service speaking another protocol is refused with NOT_SUPPORTED naming both versions, from /info or from hello', async () => {
    const url = await otherService(PROTOCOL_VERSION + 1);
    for (const fetcher of [undefined, false] as const) {
      const error = await connect({ url, reconnect: false, createWebSocket: socket, fetch: fetcher }).catch(
        (e: unknown) => e,
      );
      expect(error).toMatchObject({
        code: ErrorCode.NOT_SUPPORTED,
        details: {
          reason: 'protocol',
          clientProtocol: PROTOCOL_VERSION,
          serviceProtocol: PROTOCOL_VERSION + 1,
          serviceVersion: '9.0.0',
        },
      });
      expect((error as Error).message).toMatch(
        /client .* protocol 1, but the cvmweb service 9\.0\.0 .* protocol 2: the site must update its cvmweb client/,
      );
    }
    expect(await status({ url })).toMatchObject({ service: 'running', protocol: 2, compatible: false });
  });

  it('the service refuses a client asking for another protocol version, after telling its own', async () => {
    bridge = await startTestBridge();
    const ws = new WebSocket(`ws://127.0.0.1:${bridge.service.port}/bridge?v=7`, { origin: PAGE });
    const frames: { type: string; v: number; error?: { code: number; details: unknown } }[] = [];
    ws.on('message', (data) => frames.push(JSON.parse(String(data))));
    const code = await new Promise<number>((resolve) => ws.on('close', resolve));
    expect(frames.map((f) => f.type)).toEqual(['hello', 'error']);
    expect(frames[0]!.v).toBe(PROTOCOL_VERSION);
    expect(frames[1]!.error).toMatchObject({
      code: ErrorCode.INVALID_USAGE,
      details: { reason: 'version', supported: [PROTOCOL_VERSION] },
    });
    expect(code).toBe(1002);
    // The client's own version is accepted.
    const client = await RawClient.open(bridge.service.port, PAGE);
    expect((await client.request({ op: 'ping' })).type).toBe('result');
    await client.close();
  });

  it('a site the person denied is told so, not that the service is missing; a stopped service is absent', async () => {
    bridge = await startTestBridge({ policy: { origins: { [PAGE]: 'deny' } } });
    const url = `http://127.0.0.1:${bridge.service.port}`;
    // Node's fetch sends no Origin: send the page's, as a browser would.
    const fetcher: typeof fetch = (input, init) =>
      fetch(input, { ...init, headers: { ...(init?.headers as object), origin: PAGE } });
    await expect(connect({ url, fetch: fetcher, createWebSocket: socket })).rejects.toMatchObject({
      code: ErrorCode.NOT_ALLOWED,
      details: { reason: 'policy' },
    });
    await bridge.close();
    bridge = undefined;
    expect(await status({ url })).toMatchObject({ service: 'absent' });
    await expect(connect({ url, createWebSocket: socket })).rejects.toMatchObject({
      code: ErrorCode.NOT_FOUND,
      details: { reason: 'unreachable' },
    });
  });
});
