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
});
