import { ErrorCodeNames } from '@cvmweb/core';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RawClient, startTestBridge, type TestBridge } from '../../test/bridge-test-support.js';
import type { ServerFrame } from './server-frame.js';

const TOTAL = 100_000;
const CONNECTIONS = 4;
const BATCH = 500;

let bridge: TestBridge;

beforeAll(async () => {
  bridge = await startTestBridge({
    // Nobody approves the fuzzing origin: a valid requestSession is denied at once.
    service: { limits: { framesPerSecond: 1e9, burst: 1e9, maxInFlight: 1e6 }, prompter: async () => 'deny' },
  });
});
afterAll(() => bridge.close());

const ops = [
  'ping',
  'requestSession',
  'open',
  'start',
  'pause',
  'close',
  'setExecutionCap',
  'setProperty',
  'getProperty',
  'setDaemon',
  'daemon',
  'listSessions',
  'requestDaemonAccess',
  'release',
  'timeline',
  'nope',
];

/** Frames that are random text, random JSON, or protocol frames with wrong, missing or extra fields. */
const frame = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.json({ maxDepth: 3 }),
  fc
    .record(
      {
        v: fc.oneof(fc.constant(1), fc.integer(), fc.string()),
        id: fc.oneof(fc.nat(), fc.integer(), fc.double(), fc.string(), fc.constant(null)),
        op: fc.oneof(fc.constantFrom(...ops), fc.string()),
        session: fc.oneof(fc.uuid(), fc.string({ maxLength: 80 }), fc.integer()),
        name: fc.oneof(fc.string({ maxLength: 300 }), fc.integer()),
        key: fc.oneof(fc.string({ maxLength: 30 }), fc.constant('')),
        requirements: fc.anything({ maxDepth: 2 }),
        cap: fc.oneof(fc.integer(), fc.double(), fc.string()),
        since: fc.oneof(fc.integer(), fc.double(), fc.string()),
        subscribe: fc.oneof(fc.boolean(), fc.integer()),
        extra: fc.anything({ maxDepth: 1 }),
      },
      { requiredKeys: [] },
    )
    .map((value) => JSON.stringify(value)),
);

function wellFormed(f: ServerFrame): boolean {
  if (f.v !== 1) return false;
  if (f.type === 'result') return Number.isInteger(f.id);
  if (f.type !== 'error') return false;
  const { error } = f;
  return (
    (f.id === null || Number.isInteger(f.id)) &&
    error.code < 0 &&
    ErrorCodeNames[error.code] === error.codeName &&
    typeof error.message === 'string' &&
    typeof error.details === 'object'
  );
}

it(`answers ${TOTAL} random and malformed frames, each with one well-formed frame, and stays up`, async () => {
  const samples = fc.sample(frame, { numRuns: TOTAL, seed: 20240521 });
  const port = bridge.service.port;
  const clients = await Promise.all(
    Array.from({ length: CONNECTIONS }, () => RawClient.open(port, 'http://fuzz.example')),
  );
  const bystander = await RawClient.open(port, 'http://bystander.example');
  let answered = 0;
  let results = 0;
  const per = TOTAL / CONNECTIONS;
  await Promise.all(
    clients.map(async (client, c) => {
      for (let start = 0; start < per; start += BATCH) {
        const batch = samples.slice(c * per + start, c * per + start + BATCH);
        const replies: ServerFrame[] = [];
        const done = new Promise<void>((resolve) => {
          const onMessage = (data: unknown) => {
            const parsed = JSON.parse(String(data)) as ServerFrame;
            if (parsed.type === 'consent') return;
            replies.push(parsed);
            if (replies.length === batch.length) {
              client.ws.off('message', onMessage);
              resolve();
            }
          };
          client.ws.on('message', onMessage);
        });
        for (const text of batch) client.ws.send(text);
        await done;
        for (const reply of replies) {
          if (!wellFormed(reply)) throw new Error(`malformed answer ${JSON.stringify(reply)}`);
          if (reply.type === 'result') results++;
        }
        answered += replies.length;
      }
    }),
  );
  expect(answered).toBe(TOTAL);
  // Almost everything is refused; the few valid frames (pings, denied requests) are answered too.
  expect(results).toBeLessThan(TOTAL / 10);
  expect(await bystander.request({ op: 'ping' })).toMatchObject({ type: 'result', value: 'pong' });
  expect(bridge.cvmweb.sessions()).toEqual([]);
  for (const client of [...clients, bystander]) await client.close();
}, 120_000);
