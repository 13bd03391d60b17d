// npm run bench:qemu — the QEMU driver on real QEMU (TCG here):
// (a) requestSession → open → start → apiAvailable → stop → close through the driver, against the
//     same steps as a plain shell script of qemu-img, qemu-system and a QMP client (goal ≤ 1.05×),
//     in alternating rounds;
// (b) 200 pause/resume pairs through the driver's VM handle on a booted guest: the median time of
//     one QMP command (goal ≤ 2 ms).
// The last line is `RESULT qemu lifecycle_ratio=… control_ms=…`.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCvmweb } from '@cvmweb/core';
import { writeIso9660 } from '@cvmweb/core/node';
import { qemu } from '@cvmweb/driver-qemu';
import { TEST_GUEST_VERSIONS, testGuest, testGuestImages } from '@cvmweb/test-guest';
import { execa } from 'execa';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONTROL = 200;
const BASELINE = join(dirname(fileURLToPath(import.meta.url)), 'qemu-baseline.sh');
const GUEST_DEADLINE_S = 120;

const guest = await testGuest();
const work = await mkdtemp(join(tmpdir(), 'bench-qemu-'));
const cvmweb = await createCvmweb({
  driver: qemu({ directory: join(work, 'vms'), shutdownTimeoutMs: 10_000, acceleration: 'tcg' }),
  stateDir: join(work, 'state'),
  images: testGuestImages(guest, join(work, 'images')),
  secretCost: { N: 16, r: 1, p: 1 },
  stopTimeoutMs: 10_000,
  apiTiming: { onlineIntervalMs: 200, offlineInitialMs: 50, offlineMaxMs: 200, probeTimeoutMs: 1000 },
});
const median = (values) => values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)];
const freePort = () =>
  new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

async function driverLifecycle(round) {
  const t0 = performance.now();
  const session = await cvmweb.requestSession(`bench-${round}`, 'key');
  await session.open({ ram: 128, disk: 16, version: TEST_GUEST_VERSIONS.kernel });
  const api = new Promise((resolve) => session.on('apiAvailable', resolve));
  await session.start('[cernvm]\n');
  await api;
  await session.stop();
  await session.close();
  return performance.now() - t0;
}

// The script boots the same kernel with the same context medium the driver gets.
// (A CernVM CONTEXT.SH medium, as core builds it; core's entry no longer exports its builder.)
const context = { path: join(work, 'context.iso') };
const contextSh = `EC2_USER_DATA="${Buffer.from('[cernvm]\n').toString('base64')}"\n`;
await writeFile(
  context.path,
  writeIso9660({ volumeId: 'CONTEXT', files: [{ name: 'context.sh', data: contextSh }] }),
);
const cmdline = guest.cmdline;
const qemuBinary = (await execa('sh', ['-c', 'command -v qemu-system-x86_64'])).stdout.trim();

async function scriptLifecycle(round) {
  const [port, qmp] = [await freePort(), await freePort()];
  const t0 = performance.now();
  await execa(
    'bash',
    [
      BASELINE,
      qemuBinary,
      join(work, `script-${round}`),
      guest.vmlinux,
      guest.initrd,
      cmdline,
      context.path,
      String(port),
      String(qmp),
      String(GUEST_DEADLINE_S),
    ],
    { timeout: 5 * 60_000, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  return performance.now() - t0;
}

await driverLifecycle('warm'); // the image cache is filled once, as for a second use of an image
const driverTimes = [];
const scriptTimes = [];
for (let round = 0; round < ROUNDS; round++) {
  driverTimes.push(await driverLifecycle(round));
  scriptTimes.push(await scriptLifecycle(round));
  console.log(
    `round ${round}: driver ${driverTimes.at(-1).toFixed(0)} ms, script ${scriptTimes.at(-1).toFixed(0)} ms`,
  );
}

// (b) control on one booted guest.
const session = await cvmweb.requestSession('bench-control', 'key');
await session.open({ ram: 128, disk: 0, version: TEST_GUEST_VERSIONS.kernel });
const booted = new Promise((resolve) => session.on('apiAvailable', resolve));
await session.start('');
await booted;
const vm = await cvmweb.hypervisor.findVm(session.record.vmId);
const times = [];
for (let i = 0; i < 10; i++) {
  await vm.pause();
  await vm.resume();
}
for (let i = 0; i < CONTROL; i++) {
  let t0 = performance.now();
  await vm.pause();
  times.push(performance.now() - t0);
  t0 = performance.now();
  await vm.resume();
  times.push(performance.now() - t0);
}
await session.close();
await cvmweb.dispose();
await rm(work, { recursive: true, force: true });

const lifecycleRatio = median(driverTimes) / median(scriptTimes);
const controlMs = median(times);
console.log(
  `lifecycle: driver median ${median(driverTimes).toFixed(0)} ms, script median ${median(scriptTimes).toFixed(0)} ms`,
);
console.log(
  `control: ${CONTROL} pause/resume pairs, median ${controlMs.toFixed(3)} ms per QMP command (p90 ${times.toSorted((a, b) => a - b)[Math.floor(times.length * 0.9)].toFixed(3)} ms)`,
);
console.log(`RESULT qemu lifecycle_ratio=${lifecycleRatio.toFixed(3)} control_ms=${controlMs.toFixed(3)}`);
