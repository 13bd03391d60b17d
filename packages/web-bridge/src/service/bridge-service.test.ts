import { request as httpRequest } from 'node:http';
import { ErrorCode, SessionState } from '@cvmweb/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  connectClient,
  consentPageStamp,
  decideConsent,
  RawClient,
  startTestBridge,
  type TestBridge,
} from '../../test/bridge-test-support.js';

const PAGE = 'http://127.0.0.2:8080';
const OTHER = 'http://localhost:9090';

let bridge: TestBridge | undefined;
const clients: { close(): unknown }[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  await bridge?.close();
  bridge = undefined;
});

function get(port: number, path: string, headers: Record<string, string> = {}, method = 'GET') {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>(
    (resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path, method, headers }, (res) => {
        let body = '';
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      });
      req.on('error', reject);
      req.end();
    },
  );
}

async function open(origin = PAGE) {
  const client = await RawClient.open(bridge!.service.port, origin);
  clients.push(client);
  return client;
}

describe('HTTP surface', () => {
  it('answers /info without secrets, with CORS only for the asking origin', async () => {
    bridge = await startTestBridge();
    const { port } = bridge.service;
    const info = await get(port, '/info', { origin: PAGE });
    expect(info.status).toBe(200);
    expect(JSON.parse(info.body)).toEqual({
      service: 'cvmweb-bridge',
      protocol: 1,
      version: 'test',
      hypervisorName: 'mock',
      hypervisorVersion: '1.0.0',
      fallback: false,
    });
    expect(info.headers['access-control-allow-origin']).toBe(PAGE);
    const plain = await get(port, '/info');
    expect(plain.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('refuses a forged Host header (DNS rebinding) with 403 before anything else', async () => {
    bridge = await startTestBridge();
    const { port } = bridge.service;
    for (const path of ['/info', '/', '/consent', '/cvmweb.js', '/nope']) {
      const response = await get(port, path, { host: `attacker.example:${port}` });
      expect(response.status, path).toBe(403);
      expect(response.body).toBe('Forbidden host');
    }
    await expect(RawClient.open(port, PAGE, `attacker.example:${port}`)).rejects.toThrow(/403/);
    expect((await get(port, '/info', { host: `localhost:${port}` })).status).toBe(200);
  });

  it('refuses bad and denied origins on requests and upgrades', async () => {
    bridge = await startTestBridge({ policy: { origins: { 'http://evil.example': 'deny' } } });
    const { port } = bridge.service;
    expect((await get(port, '/info', { origin: 'null' })).status).toBe(403);
    expect((await get(port, '/info', { origin: 'http://evil.example' })).status).toBe(403);
    await expect(RawClient.open(port, 'null')).rejects.toThrow(/403/);
    await expect(RawClient.open(port, 'http://evil.example')).rejects.toThrow(/403/);
    await expect(RawClient.open(port, 'file://')).rejects.toThrow(/403/);
  });

  it('answers private/local network preflights for allowed origins only', async () => {
    bridge = await startTestBridge({ policy: { origins: { 'http://evil.example': 'deny' } } });
    const { port } = bridge.service;
    const headers = {
      'access-control-request-method': 'GET',
      'access-control-request-private-network': 'true',
    };
    const ok = await get(port, '/info', { ...headers, origin: PAGE }, 'OPTIONS');
    expect(ok.status).toBe(204);
    expect(ok.headers['access-control-allow-private-network']).toBe('true');
    expect(ok.headers['access-control-allow-origin']).toBe(PAGE);
    const denied = await get(port, '/info', { ...headers, origin: 'http://evil.example' }, 'OPTIONS');
    expect(denied.status).toBe(403);
    expect(denied.headers['access-control-allow-private-network']).toBeUndefined();
    expect((await get(port, '/consent', { ...headers, origin: PAGE }, 'OPTIONS')).status).toBe(403);
  });

  it('serves the test page and consent page unframeable, and the client bundle', async () => {
    bridge = await startTestBridge();
    const { port } = bridge.service;
    const page = await get(port, '/');
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    const consent = await get(port, '/consent');
    expect(consent.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(consent.headers['x-frame-options']).toBe('DENY');
    expect(consent.headers['access-control-allow-origin']).toBeUndefined();
    const bundle = await get(port, '/cvmweb.js');
    expect(bundle.status).toBe(200);
    expect(bundle.body).toContain('CVMWeb');
    expect(bundle.body).not.toMatch(/\brequire\(|from ?"node:|import ?"node:/);
    // The test page's script: the bundle built from src/page/browser/, self-contained too.
    const script = await get(port, '/test-page.js');
    expect(script.status).toBe(200);
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(script.body).toContain('test page: no element #');
    expect(script.body).not.toMatch(/\brequire\(|from ?"node:|import ?"node:|^import /m);
  });

  it('accepts consent decisions only from its own origin, once per token, not too soon after the page appeared', async () => {
    bridge = await startTestBridge({ service: { consentClickDelayMs: 400 } });
    const { port } = bridge.service;
    const client = await open();
    const pending = client.request({ op: 'requestSession', name: 's', key: 'k' });
    await client.next((f) => f.type === 'consent');
    const [request] = bridge.service.consent.pending();
    const shown = await consentPageStamp(port);
    let body = `token=${request!.token}&decision=allow-once&shown=${encodeURIComponent(shown)}`;
    const post = (origin: string) =>
      new Promise<string>((resolve) => {
        const req = httpRequest(
          {
            host: '127.0.0.1',
            port,
            path: '/consent',
            method: 'POST',
            headers: { origin, 'content-type': 'application/x-www-form-urlencoded' },
          },
          (res) => {
            res.resume();
            resolve(`${res.statusCode ?? 0} ${res.headers.location ?? ''}`.trim());
          },
        );
        req.end(body);
      });
    expect(await post(PAGE)).toBe('403');
    // The second click of a double-click aimed elsewhere lands right after the page appears: ignored.
    expect(await post(`http://127.0.0.1:${port}`)).toBe('303 /consent?notice=too-soon');
    expect(bridge.service.consent.pending()).toHaveLength(1);
    // A stamp that is not the service's is refused whatever its age.
    const forged = `${Date.now() - 60_000}.${shown.split('.')[1]}`;
    const good = body;
    body = body.replace(encodeURIComponent(shown), encodeURIComponent(forged));
    expect(await post(`http://127.0.0.1:${port}`)).toBe('400');
    body = good;
    await expect
      .poll(() => post(`http://127.0.0.1:${port}`), { timeout: 5000 })
      .toBe('303 /consent?notice=allow-once');
    expect(await post(`http://127.0.0.1:${port}`)).toBe('400');
    expect((await pending).type).toBe('result');
  });
});

describe('protocol', () => {
  it('says hello, answers ping and refuses malformed frames with INVALID_USAGE', async () => {
    bridge = await startTestBridge();
    const client = await open();
    expect(await client.request({ op: 'ping' })).toMatchObject({ type: 'result', value: 'pong' });
    const bad = await client.request({ op: 'ping', extra: 1 });
    expect(bad).toMatchObject({
      type: 'error',
      error: { code: ErrorCode.INVALID_USAGE, codeName: 'INVALID_USAGE' },
    });
    client.ws.send('not json');
    expect(await client.next((f) => f.type === 'error' && f.id === null)).toMatchObject({
      error: { code: -99, details: { reason: 'json' } },
    });
    client.ws.send(JSON.stringify({ v: 2, id: 7, op: 'ping' }));
    expect(await client.next((f) => f.type === 'error' && f.id === 7)).toMatchObject({
      error: { details: { reason: 'version', supported: [1] } },
    });
  });

  it('refuses an oversized frame with an error frame, and closes on a huge one; others are unaffected', async () => {
    bridge = await startTestBridge({ service: { limits: { maxFrameBytes: 4096 } } });
    const client = await open();
    const bystander = await open(OTHER);
    client.ws.send(JSON.stringify({ v: 1, id: 1, op: 'ping', pad: 'x'.repeat(5000) }));
    expect(await client.next((f) => f.type === 'error')).toMatchObject({
      error: { code: -99, details: { reason: 'size', maxFrameBytes: 4096 } },
    });
    client.ws.send('x'.repeat(10_000));
    await new Promise((r) => client.ws.once('close', r));
    expect(client.closeCode).toBe(1009);
    expect(await bystander.request({ op: 'ping' })).toMatchObject({ type: 'result' });
  });

  it('rate-limits frames per connection with NOT_ALLOWED and retryAfterMs', async () => {
    bridge = await startTestBridge({ service: { limits: { framesPerSecond: 5, burst: 5 } } });
    const client = await open();
    const answers = await Promise.all(Array.from({ length: 8 }, () => client.request({ op: 'ping' })));
    expect(answers.filter((f) => f.type === 'result')).toHaveLength(5);
    const refused = answers.filter((f) => f.type === 'error');
    expect(refused).toHaveLength(3);
    expect(refused[0]).toMatchObject({ error: { code: ErrorCode.NOT_ALLOWED, details: { reason: 'rate' } } });
  });
});

describe('sessions, consent and scope', () => {
  it('runs a whole lifecycle through the client after consent, with every event in order', async () => {
    bridge = await startTestBridge();
    const consentUrls: string[] = [];
    const client = await connectClient(bridge.service.port, PAGE, {
      onConsentRequired: (u) => consentUrls.push(u),
    });
    clients.push(client);
    expect(client.hypervisorName).toBe('mock');
    const requested = client.requestSession('life', 'key');
    await decideConsent(bridge, PAGE, 'allow-once');
    const session = await requested;
    expect(consentUrls).toEqual([bridge.service.consentUrl]);
    const seen: string[] = [];
    for (const event of [
      'open',
      'start',
      'pause',
      'resume',
      'stop',
      'hibernate',
      'close',
      'stateChanged',
      'progress',
    ] as const) {
      session.addEventListener(event, (...args: unknown[]) =>
        seen.push(event === 'stateChanged' ? `state:${args[0]}` : event),
      );
    }
    await session.open({ cpus: 1, ram: 256 });
    expect(session.state).toBe(SessionState.Open);
    await session.start('[cernvm]\nusers=u:u:p');
    expect(session.state).toBe(SessionState.Started);
    await session.setExecutionCap(50);
    expect(session.executionCap).toBe(50);
    await session.setProperty('greeting', 'hello');
    expect(await session.getProperty('greeting')).toBe('hello');
    await session.pause();
    await session.resume();
    await session.stop();
    await session.start();
    await session.hibernate();
    expect(session.hibernated).toBe(true);
    await session.close();
    expect(session.state).toBe(SessionState.Closed);
    const lifecycle = seen.filter((e) => !e.startsWith('state') && e !== 'progress');
    expect(lifecycle).toEqual(['open', 'start', 'pause', 'resume', 'stop', 'start', 'hibernate', 'close']);
    expect(seen.filter((e) => e.startsWith('state'))).toEqual([
      'state:1',
      'state:2',
      'state:3',
      'state:4',
      'state:6',
      'state:4',
      'state:2',
      'state:3',
      'state:4',
      'state:2',
      'state:0',
    ]);
    expect(seen).toContain('progress');
  });

  it('refuses a wrong key with PASSWORD_DENIED and keeps the callback form', async () => {
    bridge = await startTestBridge({ policy: { origins: { [PAGE]: 'allow' } } });
    const client = await connectClient(bridge.service.port, PAGE);
    clients.push(client);
    await client.requestSession('owned', 'right');
    await expect(client.requestSession('owned', 'wrong')).rejects.toMatchObject({
      code: ErrorCode.PASSWORD_DENIED,
    });
    const code = await new Promise<number>((resolve) => {
      expect(client.requestSession('owned', 'wrong', () => resolve(0), resolve)).toBe(1);
    });
    expect(code).toBe(-20);
  });

  it('throttles guessing a key per origin and name: refused at once with PASSWORD_DENIED, throttled', async () => {
    bridge = await startTestBridge({ policy: { origins: { [PAGE]: 'allow', [OTHER]: 'allow' } } });
    const client = await connectClient(bridge.service.port, PAGE);
    const other = await connectClient(bridge.service.port, OTHER);
    clients.push(client, other);
    await client.requestSession('owned', 'right');
    await other.requestSession('owned', 'theirs');
    const guess = () =>
      client.requestSession('owned', 'wrong').catch((e: { code: number; details: { reason?: string } }) => ({
        code: e.code,
        reason: e.details.reason,
      }));
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await guess());
    expect(answers.slice(0, 5)).toEqual(Array(5).fill({ code: -20, reason: undefined }));
    expect(answers[5]).toEqual({ code: -20, reason: 'throttled' });
    // Even the right key waits out the delay; another origin's session of the same name is not affected.
    await expect(client.requestSession('owned', 'right')).rejects.toMatchObject({
      details: { reason: 'throttled' },
    });
    await expect(other.requestSession('owned', 'theirs')).resolves.toBeDefined();
  });

  it('keeps origins apart: another origin can neither see nor control a session', async () => {
    bridge = await startTestBridge({ policy: { origins: { [PAGE]: 'allow', [OTHER]: 'allow' } } });
    const owner = await open(PAGE);
    const created = await owner.request({ op: 'requestSession', name: 'mine', key: 'k' });
    const id = (created as { value: { id: string } }).value.id;
    const intruder = await open(OTHER);
    for (const op of ['open', 'close', 'getProperty']) {
      const answer = await intruder.request({
        op,
        session: id,
        ...(op === 'getProperty' ? { name: 'x' } : {}),
      });
      expect(answer).toMatchObject({ type: 'error', error: { code: ErrorCode.NOT_FOUND } });
    }
    const same = await intruder.request({ op: 'requestSession', name: 'mine', key: 'other' });
    expect((same as { value: { id: string } }).value.id).not.toBe(id);
    expect(bridge.cvmweb.sessions(PAGE)).toHaveLength(1);
    expect(bridge.cvmweb.sessions(OTHER)).toHaveLength(1);
    expect(await intruder.request({ op: 'listSessions' })).toMatchObject({
      error: { code: ErrorCode.NOT_ALLOWED },
    });
  });

  it('denial: NOT_ALLOWED; two denials within 5 s block the origin without asking', async () => {
    bridge = await startTestBridge({ policy: { denialCooldownSeconds: 30 } });
    const client = await open();
    const first = client.request({ op: 'requestSession', name: 'a', key: 'k' });
    await decideConsent(bridge, PAGE, 'deny');
    expect(await first).toMatchObject({
      error: { code: ErrorCode.NOT_ALLOWED, details: { reason: 'denied' } },
    });
    const second = client.request({ op: 'requestSession', name: 'a', key: 'k' });
    await decideConsent(bridge, PAGE, 'deny');
    expect(await second).toMatchObject({ error: { details: { reason: 'denied', throttled: true } } });
    const third = await client.request({ op: 'requestSession', name: 'a', key: 'k' });
    expect(third).toMatchObject({ error: { code: ErrorCode.NOT_ALLOWED, details: { reason: 'throttled' } } });
    expect(
      (third as unknown as { error: { details: { retryAfterMs: number } } }).error.details.retryAfterMs,
    ).toBeGreaterThan(29_000);
    expect(bridge.service.consent.pending()).toHaveLength(0);
    expect(bridge.cvmweb.sessions(PAGE)).toHaveLength(0);
  });

  it('"allow and don\'t ask again" is remembered in the policy; revocation asks again', async () => {
    bridge = await startTestBridge();
    const client = await open();
    const first = client.request({ op: 'requestSession', name: 'a', key: 'k' });
    await decideConsent(bridge, PAGE, 'allow-always');
    expect(await first).toMatchObject({ type: 'result' });
    expect(bridge.policy.decision(PAGE)).toBe('allow');
    expect(await client.request({ op: 'requestSession', name: 'b', key: 'k' })).toMatchObject({
      type: 'result',
    });
    await bridge.service.consent.revoke(PAGE);
    const third = client.request({ op: 'requestSession', name: 'c', key: 'k' });
    await client.next((f) => f.type === 'consent');
    await decideConsent(bridge, PAGE, 'deny');
    expect(await third).toMatchObject({ error: { code: ErrorCode.NOT_ALLOWED } });
    // A session approved earlier does not re-attach without asking once the origin was revoked.
    const reattach = client.request({ op: 'requestSession', name: 'a', key: 'k' });
    await client.next((f) => f.type === 'consent');
    await decideConsent(bridge, PAGE, 'allow-once');
    expect(await reattach).toMatchObject({ type: 'result' });
  });

  it('caps requirements and sessions by the local policy, naming the limit', async () => {
    bridge = await startTestBridge({
      policy: {
        origins: { [PAGE]: 'allow' },
        limits: { cpus: 2, ram: 1024, disk: 2048, sessions: 1, names: 2 },
      },
    });
    const client = await connectClient(bridge.service.port, PAGE);
    clients.push(client);
    const s = await client.requestSession('one', 'k');
    // The original's onOpenError hears of a refusal by the policy; an invalid argument is pre-flight.
    const heard: unknown[][] = [];
    s.addEventListener('openError', (message, code) => heard.push(['openError', message, code]));
    s.addEventListener('error', (message, code, category) => heard.push(['error', message, code, category]));
    await expect(s.open({ cpus: 4 })).rejects.toMatchObject({
      code: ErrorCode.NOT_ALLOWED,
      message: expect.stringContaining('at most 2'),
      details: { field: 'cpus', limit: 2, requested: 4 },
    });
    expect(heard).toEqual([
      ['openError', expect.stringContaining('at most 2'), ErrorCode.NOT_ALLOWED],
      ['error', expect.stringContaining('at most 2'), ErrorCode.NOT_ALLOWED, 'open'],
    ]);
    await expect(s.open({ cpus: 1.5 })).rejects.toMatchObject({ code: ErrorCode.INVALID_USAGE });
    expect(heard).toHaveLength(2);
    await expect(s.open({ ram: 2048 })).rejects.toMatchObject({ details: { field: 'ram', limit: 1024 } });
    await s.open({ cpus: 2, ram: 1024, disk: 2048 });
    const t = await client.requestSession('two', 'k');
    await expect(t.open()).rejects.toMatchObject({
      code: ErrorCode.NOT_ALLOWED,
      details: { field: 'sessions', limit: 1 },
    });
    await expect(client.requestSession('three', 'k')).rejects.toMatchObject({
      details: { field: 'names', limit: 2 },
    });
  });

  it('privileged origins (configured) list every session; daemon controls report the missing daemon', async () => {
    const ADMIN = 'https://admin.example';
    bridge = await startTestBridge({ policy: { origins: { [PAGE]: 'allow' }, privileged: [ADMIN] } });
    const page = await open(PAGE);
    await page.request({ op: 'requestSession', name: 'x', key: 'k' });
    const admin = await open(ADMIN);
    const list = await admin.request({ op: 'listSessions' });
    expect(list).toMatchObject({ type: 'result', value: [{ scope: PAGE, name: 'x' }] });
    expect(JSON.stringify(list)).not.toMatch(/owner|salt|hash/);
    expect(await page.request({ op: 'daemon', action: 'start' })).toMatchObject({
      error: { code: ErrorCode.NOT_ALLOWED },
    });
    expect(await admin.request({ op: 'daemon', action: 'start' })).toMatchObject({
      error: { code: ErrorCode.NOT_IMPLEMENTED },
    });
  });
});
