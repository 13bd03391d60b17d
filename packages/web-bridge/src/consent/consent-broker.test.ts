import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode } from '@cvmweb/core';
import { afterEach, describe, expect, it } from 'vitest';
import type { BridgePolicy } from '../policy/bridge-policy.js';
import { PolicyStore } from '../policy/policy-store.js';
import { ConsentBroker, type ConsentRequest } from './consent-broker.js';

const SITE = 'https://site.example';
const dirs: string[] = [];

afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function brokerWith(policy: Partial<BridgePolicy> = {}) {
  let now = 1_000_000;
  const requests: ConsentRequest[] = [];
  const broker = new ConsentBroker({
    policy: await PolicyStore.open({ initial: policy }),
    now: () => now,
    // A copy as it is when the broker tells: what a terminal or a log would print.
    onRequest: (request) => requests.push({ ...request, names: [...request.names] }),
  });
  const deny = async (name: string) => {
    const asked = broker.authorize(SITE, name).catch((error: { details: Record<string, unknown> }) => error);
    const [request] = broker.pending();
    expect(request, 'a consent request waits').toBeDefined();
    await broker.decide(request!.token, 'deny');
    return asked;
  };
  const advance = (ms: number) => {
    now += ms;
  };
  return { broker, requests, deny, advance };
}

describe('ConsentBroker', () => {
  it('tells about a request with the session name already in it', async () => {
    const { broker, requests } = await brokerWith();
    const asked = broker.authorize(SITE, 'first');
    const joined = broker.authorize(SITE, 'second');
    expect(requests).toEqual([expect.objectContaining({ origin: SITE, names: ['first'] })]);
    expect(broker.pending()[0]!.names).toEqual(['first', 'second']);
    await broker.decide(broker.pending()[0]!.token, 'allow-once');
    await Promise.all([asked, joined]);
  });

  it('two denials within the default 5 s window block the origin; further apart they do not', async () => {
    const { broker, deny, advance } = await brokerWith();
    expect(await deny('a')).toMatchObject({ details: { reason: 'denied', throttled: false } });
    advance(6000);
    expect(await deny('a')).toMatchObject({ details: { reason: 'denied', throttled: false } });
    advance(4000);
    expect(await deny('a')).toMatchObject({ details: { reason: 'denied', throttled: true } });
    expect(() => broker.assertNotRefused(SITE)).toThrow(
      expect.objectContaining({
        code: ErrorCode.NOT_ALLOWED,
        details: expect.objectContaining({ reason: 'throttled' }),
      }),
    );
  });

  it('the window comes from the policy (denialWindowSeconds)', async () => {
    const { broker, deny, advance } = await brokerWith({
      denialWindowSeconds: 600,
      denialCooldownSeconds: 30,
    });
    await deny('a');
    advance(300_000);
    expect(await deny('a')).toMatchObject({ details: { throttled: true } });
    expect(broker.blockedFor(SITE)).toBe(30_000);
    expect(() => broker.assertNotRefused(SITE)).toThrow(/denied twice within 600 seconds/);
  });
});

describe('PolicyStore', () => {
  it('reads denialWindowSeconds from the file, 5 by default', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cvmweb-policy-'));
    dirs.push(dir);
    const file = join(dir, 'bridge-policy.json');
    expect((await PolicyStore.open({ file })).policy.denialWindowSeconds).toBe(5);
    await writeFile(file, JSON.stringify({ version: 1, denialWindowSeconds: 20 }));
    expect((await PolicyStore.open({ file })).policy.denialWindowSeconds).toBe(20);
    await writeFile(file, JSON.stringify({ version: 1, denialWindowSeconds: -1 }));
    await expect(PolicyStore.open({ file })).rejects.toMatchObject({ code: ErrorCode.INVALID_USAGE });
    expect(await readFile(file, 'utf8')).toContain('-1');
  });

  it('bounds waiting requests per site, so one site’s subdomains never crowd out another site', async () => {
    const { broker } = await brokerWith();
    const outcomes = Array.from({ length: 40 }, (_, i) =>
      broker.authorize(`https://s${i}.flood.example`, 'x').then(
        () => 'granted',
        (error: { code: number; details: { reason: string } }) => `${error.code}:${error.details.reason}`,
      ),
    );
    const refused = await Promise.all(outcomes.slice(3));
    expect(new Set(refused)).toEqual(new Set(['-10:busy']));
    expect(broker.pending().map((r) => r.origin)).toEqual(
      [0, 1, 2].map((i) => `https://s${i}.flood.example`),
    );
    // Another site, and a private suffix's own sites (github.io pages are sites of their own).
    const others = ['https://other.example', 'https://a.github.io', 'https://b.github.io'].map((origin) =>
      broker.authorize(origin, 'y').catch((error: { details: { reason: string } }) => error.details.reason),
    );
    expect(broker.pending()).toHaveLength(6);
    broker.close();
    expect(await Promise.all(others)).toEqual(['stopping', 'stopping', 'stopping']);
    await Promise.all(outcomes);
  });

  it('when every slot waits, a site with none waiting still reaches the person: the most crowded site’s newest yields', async () => {
    const policy = await PolicyStore.open();
    const broker = new ConsentBroker({ policy, maxPending: 4, maxPendingPerSite: 3 });
    const reasons: Record<string, string> = {};
    const ask = (origin: string) =>
      broker.authorize(origin, 'n').catch((error: { details: { reason: string } }) => {
        reasons[origin] = error.details.reason;
      });
    const waits = [
      'https://a.one.example',
      'https://b.one.example',
      'https://c.one.example',
      'https://two.example',
    ].map(ask);
    expect(broker.pending()).toHaveLength(4);
    const third = ask('https://three.example');
    expect(broker.pending().map((r) => r.origin)).toEqual([
      'https://a.one.example',
      'https://b.one.example',
      'https://two.example',
      'https://three.example',
    ]);
    await waits[2];
    expect(reasons).toEqual({ 'https://c.one.example': 'busy' });
    // A site that already waits gets no second slot that way.
    await ask('https://x.two.example');
    expect(reasons['https://x.two.example']).toBe('busy');
    broker.close();
    await Promise.all([...waits, third]);
  });

  it('withdraws a request when the page that waits for it goes away', async () => {
    const { broker } = await brokerWith();
    const first = new AbortController();
    const second = new AbortController();
    const a = broker.authorize(SITE, 'a', { signal: first.signal }).catch((error: unknown) => error);
    const b = broker.authorize(SITE, 'b', { signal: second.signal }).catch((error: unknown) => error);
    first.abort();
    expect(await a).toMatchObject({ code: ErrorCode.CONTROL, details: { aborted: true } });
    // Another page of the origin still waits: the person is still asked.
    expect(broker.pending()).toHaveLength(1);
    second.abort();
    expect(await b).toMatchObject({ code: ErrorCode.CONTROL });
    expect(broker.pending()).toEqual([]);
  });
});
