// npm run bench:kvm — the kvm driver on real libvirt:
// (a) requestSession → open → start → apiAvailable → stop → close through the driver, against the
//     same steps as a plain shell script of qemu-img/virsh/curl (goal ≤ 1.10×);
// (b) 200 state queries + 200 pause/resume pairs through the driver (persistent virsh channel),
//     against spawning one virsh per call for every one of those commands (goal ≤ 0.2×), on a
//     booted guest; the same commands typed into one interactive virsh show libvirtd's own share.
// The last line is `RESULT kvm lifecycle_ratio=… control_ratio=…`.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCvmweb, ImageCache, ImageCatalog } from '@cvmweb/core';
import { kvm } from '@cvmweb/driver-kvm';
import { buildDomainXml } from '@cvmweb/driver-kvm/testing';
import { execa } from 'execa';

const URI = process.env.CVMWEB_KVM_TEST_URI ?? 'qemu:///system';
const POOL = 'cvmweb-test';
const POOL_PATH = '/var/lib/libvirt/images/cvmweb-test';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONTROL = 200;
/** The plain-script baseline of (a): values are its positional arguments, never part of its text. */
const BASELINE = join(dirname(fileURLToPath(import.meta.url)), 'kvm-baseline.sh');
/** How long the baseline waits for the guest's HTTP answer (s), and its whole run (ms). */
const GUEST_DEADLINE_S = 120;
const BASELINE_TIMEOUT_MS = 5 * 60_000;

const guestDir = (await execa('bash', ['scripts/build-test-guest.sh'], { timeout: 10 * 60_000 })).stdout
  .trim()
  .split('\n')
  .at(-1);
const sums = Object.fromEntries(
  (await readFile(join(guestDir, 'SHA256SUMS'), 'utf8'))
    .trim()
    .split('\n')
    .map((line) => line.split(/\s+/).reverse()),
);
const work = await mkdtemp(join(tmpdir(), 'bench-kvm-'));
const cmdline = (await readFile(join(guestDir, 'cmdline'), 'utf8')).trim();
const catalog = new ImageCatalog(
  [
    {
      version: 'bench',
      kind: 'kernel',
      context: 'cernvm',
      url: `file://${join(guestDir, 'vmlinux')}`,
      sha256: sums.vmlinux,
      initrdUrl: `file://${join(guestDir, 'initrd.gz')}`,
      initrdSha256: sums['initrd.gz'],
      cmdline,
    },
  ],
  { defaults: [] },
);
const cvmweb = await createCvmweb({
  driver: kvm({ uri: URI, pool: POOL, poolPath: POOL_PATH, shutdownTimeoutMs: 10_000 }),
  stateDir: join(work, 'state'),
  images: new ImageCache({ directory: join(work, 'images'), catalog }),
  secretCost: { N: 16, r: 1, p: 1 },
  stopTimeoutMs: 10_000,
  apiTiming: { onlineIntervalMs: 200, offlineInitialMs: 50, offlineMaxMs: 200, probeTimeoutMs: 1000 },
});
const virsh = async (...args) =>
  (await execa('virsh', ['-c', URI, ...args], { env: { LC_ALL: 'C' }, timeout: 60_000 })).stdout;
const median = (values) => values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)];

async function driverLifecycle(round) {
  const t0 = performance.now();
  const session = await cvmweb.requestSession(`bench-${round}`, 'key');
  await session.open({ ram: 128, disk: 16, version: 'bench' });
  const api = new Promise((resolve) => session.on('apiAvailable', resolve));
  await session.start('[cernvm]\n');
  await api;
  await session.stop();
  await session.close();
  return performance.now() - t0;
}

// Warm-up: uploads the shared base volumes once (as a second use of an image would find them).
await driverLifecycle('warm');
const volumes = await virsh('vol-list', POOL);
const kernel = volumes.match(/\/\S+\.kernel/)?.[0];
const initrd = volumes.match(/\/\S+\.initrd/)?.[0];
const contextIso = join(POOL_PATH, 'bench-script-context.iso');
await execa(
  'genisoimage',
  ['-quiet', '-o', contextIso, '-V', 'CONTEXT_INFO', '-R', '-J', join(guestDir, 'cmdline')],
  { timeout: 60_000 },
);

async function scriptLifecycle(round) {
  const name = `bench-script-${round}`;
  const port = 46000 + round;
  const scratch = join(POOL_PATH, `${name}-scratch.qcow2`);
  const xml = buildDomainXml({
    name,
    uuid: crypto.randomUUID(),
    memoryMiB: 128,
    vcpus: 1,
    virtType: 'qemu',
    boot: { kind: 'kernel', kernel, initrd, cmdline },
    disks: [
      { device: 'disk', source: { file: scratch }, format: 'qcow2', target: 'vda', bus: 'virtio' },
      {
        device: 'cdrom',
        source: { file: contextIso },
        format: 'raw',
        target: 'hdd',
        bus: 'ide',
        readonly: true,
      },
    ],
    apiForward: { hostPort: port, guestPort: 80 },
  });
  const file = join(work, `${name}.xml`);
  await writeFile(file, xml);
  const t0 = performance.now();
  await execa('bash', [BASELINE, URI, file, name, String(port), scratch, String(GUEST_DEADLINE_S)], {
    timeout: BASELINE_TIMEOUT_MS,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return performance.now() - t0;
}

const driverTimes = [];
const scriptTimes = [];
for (let round = 0; round < ROUNDS; round++) {
  driverTimes.push(await driverLifecycle(round));
  scriptTimes.push(await scriptLifecycle(round));
  console.log(
    `round ${round}: driver ${driverTimes.at(-1).toFixed(0)} ms, script ${scriptTimes.at(-1).toFixed(0)} ms`,
  );
}

// (b) control: one running, booted (idle) guest. Driver and one-virsh-per-call run in alternating
// blocks, so a change of load on the machine (or the guest) weighs on both alike.
const session = await cvmweb.requestSession('bench-control', 'key');
await session.open({ ram: 128, disk: 0, version: 'bench' });
const booted = new Promise((resolve) => session.on('apiAvailable', resolve));
await session.start('');
await booted;
const vm = await cvmweb.hypervisor.findVm(session.record.vmId);
const spawnVirsh = (...args) =>
  execa('virsh', ['-c', URI, ...args], { env: { LC_ALL: 'C' }, timeout: 60_000 });
const driverRound = async () => {
  await vm.state();
  await vm.pause();
  await vm.resume();
};
const spawnRound = async () => {
  await spawnVirsh('domstate', session.vmName);
  await spawnVirsh('suspend', session.vmName);
  await spawnVirsh('resume', session.vmName);
};
// libvirtd's own cost: the same commands typed into one interactive virsh, no driver around it.
const interactive = spawn('virsh', ['-q', '-c', URI], { env: { ...process.env, LC_ALL: 'C' } });
interactive.stdout.resume();
interactive.stderr.setEncoding('utf8');
let interactiveErr = '';
interactive.stderr.on('data', (chunk) => {
  interactiveErr += chunk;
});
let markers = 0;
const typed = (command) =>
  new Promise((resolve) => {
    const marker = `bench-marker-${++markers}`;
    const check = () => {
      if (!interactiveErr.includes(marker)) return;
      interactiveErr = '';
      interactive.stderr.off('data', check);
      resolve();
    };
    interactive.stderr.on('data', check);
    interactive.stdin.write(`${command}\necho --err ${marker}\n`);
  });
const interactiveRound = async () => {
  await typed(`domstate ${session.vmName} --reason`);
  await typed(`suspend ${session.vmName}`);
  await typed(`resume ${session.vmName}`);
};
const timed = async (round, count) => {
  const t0 = performance.now();
  for (let i = 0; i < count; i++) await round();
  return performance.now() - t0;
};
for (const round of [driverRound, spawnRound, interactiveRound]) await timed(round, 5); // warm-up
const BLOCKS = 4;
let driverControl = 0;
let spawnControl = 0;
let interactiveControl = 0;
for (let block = 0; block < BLOCKS; block++) {
  driverControl += await timed(driverRound, CONTROL / BLOCKS);
  spawnControl += await timed(spawnRound, CONTROL / BLOCKS);
  interactiveControl += await timed(interactiveRound, CONTROL / BLOCKS);
}
interactive.stdin.end();
await session.close();
await cvmweb.dispose();
await rm(work, { recursive: true, force: true });
await rm(contextIso, { force: true });

const lifecycleRatio = median(driverTimes) / median(scriptTimes);
const controlRatio = driverControl / spawnControl;
console.log(
  `lifecycle: driver median ${median(driverTimes).toFixed(0)} ms, script median ${median(scriptTimes).toFixed(0)} ms`,
);
console.log(
  `control (${CONTROL} × state+pause+resume on a booted guest): driver ${driverControl.toFixed(0)} ms, one virsh per call ${spawnControl.toFixed(0)} ms`,
);
console.log(
  `  per round: driver ${(driverControl / CONTROL).toFixed(2)} ms, one virsh per call ${(spawnControl / CONTROL).toFixed(2)} ms, libvirtd itself (one interactive virsh, no driver) ${(interactiveControl / CONTROL).toFixed(2)} ms`,
);
console.log(
  `RESULT kvm lifecycle_ratio=${lifecycleRatio.toFixed(3)} control_ratio=${controlRatio.toFixed(3)}`,
);
