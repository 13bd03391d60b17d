// npm run bench:mock — sessions through the whole lifecycle on the mock driver, and sessions held open.
//
// Sessions use the in-memory registry and the test scrypt cost (TEST_SCRYPT_COST): the figure is
// the cost of cvmweb's own machinery (validation, state machine, events, runtime guard, driver),
// not of disk syncs or of a deliberately slow password hash. Run with --expose-gc.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createCvmweb, createMemorySessionRegistry } from '../packages/core/dist/index.js';
import { TEST_SCRYPT_COST } from '../packages/core/dist/testing.js';
import { createMockHypervisor, mock } from '../packages/driver-mock/dist/index.js';

const LIFECYCLE = Number(process.env.BENCH_SESSIONS ?? 10_000);
const HELD = Number(process.env.BENCH_HELD ?? 10_000);

const stateDir = await mkdtemp(join(tmpdir(), 'cvmweb-bench-mock-'));

async function instance() {
  const state = createMockHypervisor();
  const cvmweb = await createCvmweb({
    driver: mock({ instance: state }),
    stateDir,
    registry: createMemorySessionRegistry(),
    secretCost: TEST_SCRYPT_COST,
  });
  return { cvmweb, state };
}

async function lifecycle(count, prefix) {
  const { cvmweb, state } = await instance();
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const session = await cvmweb.requestSession(`${prefix}-${i}`, 'key');
    await session.open();
    await session.start('user data');
    await session.stop();
    await session.close();
  }
  const ms = performance.now() - started;
  await cvmweb.dispose();
  await state.shutdown();
  return ms;
}

function heapUsed() {
  globalThis.gc?.();
  globalThis.gc?.();
  return process.memoryUsage().heapUsed;
}

// Warm up the JIT so the 1,000 and 10,000 runs compare like with like.
await lifecycle(LIFECYCLE / 10, 'warm');
const small = await lifecycle(LIFECYCLE / 10, 'small');
const large = await lifecycle(LIFECYCLE, 'large');
const perSmall = small / (LIFECYCLE / 10);
const perLarge = large / LIFECYCLE;

const { cvmweb, state } = await instance();
const before = heapUsed();
const held = [];
const heldStarted = performance.now();
for (let i = 0; i < HELD; i++) {
  const session = await cvmweb.requestSession(`held-${i}`, 'key');
  await session.open();
  held.push(session);
}
const heldMs = performance.now() - heldStarted;
const after = heapUsed();
const kibPerSession = (after - before) / HELD / 1024;
for (const session of held) await session.close();
await cvmweb.dispose();
await state.shutdown();
await rm(stateDir, { recursive: true, force: true });

const sessionsPerS = LIFECYCLE / (large / 1000);
console.log(`lifecycle (requestSession → open → start → stop → close):`);
console.log(`  ${LIFECYCLE / 10} sessions: ${small.toFixed(0)} ms (${perSmall.toFixed(3)} ms/session)`);
console.log(`  ${LIFECYCLE} sessions: ${large.toFixed(0)} ms (${perLarge.toFixed(3)} ms/session)`);
console.log(
  `held open: ${HELD} sessions in ${heldMs.toFixed(0)} ms, heap +${((after - before) / 1048576).toFixed(1)} MiB`,
);
console.log(
  `RESULT mock sessions_per_s=${sessionsPerS.toFixed(0)} kib_per_session=${kibPerSession.toFixed(2)} linearity=${(perLarge / perSmall).toFixed(2)}`,
);
