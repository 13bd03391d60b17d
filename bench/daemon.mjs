// npm run bench:daemon — the idle daemon controlling 100 mock sessions.
//
// 100 controlled sessions on the mock driver (half with a cap policy, minCap 25 / maxCap 100, half
// paused while the user is active), an in-memory registry and a fake idle source on the real clock.
// The user alternates: active (input every second) for a while, then away until the daemon gives
// the machine back, for BENCH_SECONDS (default 60).
//
// cpu_pct: the CPU time of the whole benchmark process while the daemon runs, as a share of one
// core: the daemon's loop (reading the source, planning), the session actions it makes (the Session
// API and the mock driver), and also the simulated user's input script and the idle mock sessions.
// It is an upper bound on the daemon's own share. The process first runs a baseline of
// BASELINE_SECONDS without the daemon; the difference is printed as an estimate, but not used for
// the RESULT line, because at these levels it is within the noise (it can come out negative).
//
// react_ms: from the moment the user comes back (an input after the system was idle) to the moment
// the last of the 100 sessions has its yielding action (cap lowered or paused) applied, the worst
// over all transitions of the run. It includes the poll delay (idlePollMs, 500 ms by default).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { createCvmweb, createMemorySessionRegistry } from '../packages/core/dist/index.js';
import { TEST_SCRYPT_COST } from '../packages/core/dist/testing.js';
import { IdleDaemon } from '../packages/daemon/dist/index.js';
import { fakeIdleSource } from '../packages/daemon/dist/testing.js';
import { createMockHypervisor, mock } from '../packages/driver-mock/dist/index.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const BASELINE_SECONDS = Number(process.env.BASELINE_SECONDS ?? Math.min(10, Math.max(2, SECONDS / 4)));
const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 100);
const IDLE_TIME = 5; // s
const ACTIVE_MS = 20_000; // how long the user types before going away: a return about every 28 s

const stateDir = await mkdtemp(join(tmpdir(), 'cvmweb-bench-daemon-'));
const state = createMockHypervisor();
const cvmweb = await createCvmweb({
  driver: mock({ instance: state, api: false }),
  stateDir,
  registry: createMemorySessionRegistry(),
  secretCost: TEST_SCRYPT_COST,
});
for (let i = 0; i < SESSIONS; i++) {
  const session = await cvmweb.requestSession(`bench-${i}`, 'key');
  await session.setDaemonSettings(
    i % 2 === 0 ? { controlled: true, minCap: 25, maxCap: 100 } : { controlled: true, minCap: 0 },
  );
  await session.open({ cpus: 1, ram: 256, disk: 0 });
  await session.start('bench');
}
const source = fakeIdleSource({ idleSeconds: 3600 });

/** The user script: active for ACTIVE_MS with input every second, then away until the daemon restored everything. */
async function userScript(until, onComeBack) {
  while (performance.now() < until) {
    onComeBack?.();
    source.input();
    for (let t = 1000; t < ACTIVE_MS && performance.now() < until; t += 1000) {
      await sleep(1000);
      source.input();
    }
    // Away: idleTime + settle + a poll, then a little more so the restore actions land.
    await sleep(Math.min(IDLE_TIME * 1000 + 2_500, Math.max(0, until - performance.now())));
  }
}

// Baseline: the same process and input script, no daemon.
const baselineCpu = process.cpuUsage();
const baselineWall = performance.now();
await userScript(baselineWall + BASELINE_SECONDS * 1000);
const baselineRate = cpuMs(process.cpuUsage(baselineCpu)) / (performance.now() - baselineWall);

const daemon = new IdleDaemon({
  host: cvmweb,
  source,
  idleTime: IDLE_TIME,
  settleMs: 1_000,
  minActionIntervalMs: 2_000,
  refreshMs: 60_000,
});
let comeBackAt = 0;
let pending = 0;
const reactions = [];
daemon.on('timeline', (event) => {
  if (event.kind !== 'action' || comeBackAt === 0) return;
  if (event.action === 'pause' || (event.action === 'setExecutionCap' && event.cap === 25)) {
    pending -= 1;
    if (pending === 0) {
      reactions.push(performance.now() - comeBackAt);
      comeBackAt = 0;
    }
  }
});
source.setIdleSeconds(3600);
await daemon.start();
await sleep(1500); // let the first restore pass settle (everything already runs at full cap)
const cpu = process.cpuUsage();
const wall = performance.now();
await userScript(wall + SECONDS * 1000, () => {
  if (daemon.isSystemIdle) {
    comeBackAt = performance.now();
    pending = SESSIONS;
  }
});
const elapsed = performance.now() - wall;
const used = cpuMs(process.cpuUsage(cpu));
await daemon.stop();
const actions = daemon.timeline().filter((e) => e.kind === 'action');
const failed = actions.filter((e) => !e.ok).length;

const cpuPct = (used / elapsed) * 100;
const estimatePct = ((used - baselineRate * elapsed) / elapsed) * 100;
const reactMs = reactions.length > 0 ? Math.max(...reactions) : Number.NaN;
console.log(
  `sessions ${SESSIONS}, ${(elapsed / 1000).toFixed(1)} s with the daemon, baseline ${BASELINE_SECONDS} s`,
);
console.log(
  `process CPU ${used.toFixed(0)} ms (baseline rate ${(baselineRate * 100).toFixed(3)} % of a core), ` +
    `${actions.length} actions (${failed} failed), source reads ${source.reads}`,
);
console.log(
  `CPU share of one core: ${cpuPct.toFixed(3)} % for the whole process (upper bound), ` +
    `${estimatePct.toFixed(3)} % after subtracting the baseline (an estimate within the noise)`,
);
console.log(
  `reactions to the user's return: ${reactions.map((r) => r.toFixed(0)).join(', ') || 'none'} ms (${reactions.length} transitions)`,
);
await cvmweb.dispose();
await state.shutdown();
await rm(stateDir, { recursive: true, force: true });
console.log(`RESULT daemon cpu_pct=${cpuPct.toFixed(3)} react_ms=${reactMs.toFixed(0)}`);

function cpuMs(usage) {
  return (usage.user + usage.system) / 1000;
}
