// VBoxManage invocations and wall time per action of the VirtualBox driver, on the VBoxManage
// double, against a replay of the original plugin's command sequence for open() and close()
// (reconstructed from wavesoft/CVMWeb Virtualbox.cpp: VBoxSession::open/getMachineUUID/
// getHostOnlyAdapter/start/close, micro-CernVM mode, fresh VM, a host-only network with DHCP).
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createProcessRunner } from '../packages/core/dist/node.js';
import { virtualbox } from '../packages/driver-virtualbox/dist/index.js';

const DOUBLE = fileURLToPath(
  new URL('../packages/driver-virtualbox/test/vboxmanage-double.mjs', import.meta.url),
);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function home() {
  const dir = await mkdtemp(path.join(tmpdir(), 'cvmweb-vbox-bench-'));
  await writeFile(path.join(dir, 'boot.iso'), Buffer.alloc(64 * 1024));
  await writeFile(path.join(dir, 'context.iso'), Buffer.alloc(2048));
  return dir;
}

async function cleanup(dir) {
  try {
    const registry = JSON.parse(
      execFileSync('cat', [path.join(dir, 'vboxmanage-double.json')], { encoding: 'utf8' }),
    );
    for (const vm of registry.vms) if (vm.serverPid) process.kill(vm.serverPid, 'SIGKILL');
  } catch {}
  await rm(dir, { recursive: true, force: true });
}

async function ours() {
  const dir = await home();
  const hv = await virtualbox({
    vboxManagePath: DOUBLE,
    env: { VBOX_USER_HOME: dir },
    stopPollMs: 20,
  }).create();
  const spec = (n) => ({
    sessionId: '6f1c1e9a-3f7e-4a8e-9b1a-0c2d3e4f5a6b',
    name: `cvmweb-bench-${n}-0123456789ab`,
    cpus: 1,
    ram: 256,
    disk: 1024,
    executionCap: 100,
    image: {
      version: 'bench',
      context: 'cernvm',
      resolve: async () => ({
        version: 'bench',
        kind: 'iso',
        path: path.join(dir, 'boot.iso'),
        sha256: '0'.repeat(64),
        context: 'cernvm',
      }),
    },
    directory: dir,
  });
  const start = {
    userData: 'x',
    context: { format: 'cernvm', path: path.join(dir, 'context.iso'), size: 2048 },
  };
  const rows = {};
  const measure = async (name, action) => {
    const spawns = hv.spawns;
    const t0 = performance.now();
    const value = await action();
    rows[name] ??= { spawns: hv.spawns - spawns, ms: [] };
    rows[name].ms.push(performance.now() - t0);
    return value;
  };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const vm = await measure('open', () => hv.createVm(spec(round)));
      await measure('start', () => vm.start(start));
      await measure('pause', () => vm.pause());
      await measure('resume', () => vm.resume());
      await measure('setExecutionCap', () => vm.setExecutionCap(50));
      await measure('setProperty', () => vm.setProperty('k', 'v'));
      await measure('getProperty', () => vm.getProperty('k'));
      await measure('hibernate', () => vm.hibernate());
      await measure('start (restore)', () => vm.start(start));
      await measure('stop', () => vm.stop());
      await measure('start (again)', () => vm.start(start));
      await measure('close', () => vm.destroy());
    }
  } finally {
    await cleanup(dir);
  }
  return rows;
}

async function original() {
  const dir = await home();
  const runner = createProcessRunner({ env: { VBOX_USER_HOME: dir } });
  const rows = {};
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const name = `cvmweb-original-${round}`;
      const scratch = path.join(dir, `scratch-${round}.vdi`);
      let uuid = '';
      const open = [
        () => ['list', 'vms'],
        () => ['createvm', '--name', name, '--ostype', 'Linux26_64', '--register'],
        () => ['storagectl', uuid, '--name', 'IDE', '--add', 'ide'],
        () => ['storagectl', uuid, '--name', 'SATA', '--add', 'sata'],
        () => ['list', 'hostonlyifs'],
        () => ['list', 'dhcpservers'],
        () => [
          'modifyvm',
          uuid,
          '--cpus',
          '1',
          '--memory',
          '256',
          '--cpuexecutioncap',
          '100',
          '--vram',
          '32',
          '--acpi',
          'on',
          '--ioapic',
          'on',
          '--vrde',
          'on',
          '--vrdeaddress',
          '127.0.0.1',
          '--vrdeauthtype',
          'null',
          '--vrdeport',
          String(20000 + round),
          '--boot1',
          'dvd',
          '--boot2',
          'none',
          '--boot3',
          'none',
          '--boot4',
          'none',
          '--nic1',
          'nat',
          '--natdnshostresolver1',
          'on',
          '--nic2',
          'hostonly',
          '--hostonlyadapter2',
          'vboxnet0',
        ],
        () => ['showvminfo', uuid],
        () => ['createhd', '--filename', scratch, '--size', '1024'],
        () => [
          'storageattach',
          uuid,
          '--storagectl',
          'SATA',
          '--port',
          '0',
          '--device',
          '0',
          '--type',
          'hdd',
          '--setuuid',
          '',
          '--medium',
          scratch,
        ],
        () => [
          'storageattach',
          uuid,
          '--storagectl',
          'IDE',
          '--port',
          '0',
          '--device',
          '0',
          '--type',
          'dvddrive',
          '--medium',
          path.join(dir, 'boot.iso'),
        ],
        () => ['guestproperty', 'set', uuid, '/CVMWeb/secret', 'key'],
        () => ['guestproperty', 'set', uuid, '/CVMWeb/daemon/controlled', '0'],
        () => ['guestproperty', 'set', uuid, '/CVMWeb/daemon/cap/min', '0'],
        () => ['guestproperty', 'set', uuid, '/CVMWeb/daemon/cap/max', '0'],
        () => ['guestproperty', 'set', uuid, '/CVMWeb/daemon/flags', '0'],
      ];
      const start = [
        () => ['showvminfo', uuid],
        () => [
          'storageattach',
          uuid,
          '--storagectl',
          'SATA',
          '--port',
          '1',
          '--device',
          '0',
          '--type',
          'dvddrive',
          '--medium',
          path.join(dir, 'context.iso'),
        ],
        () => ['startvm', uuid, '--type', 'headless'],
        () => ['guestproperty', 'set', uuid, '/CVMWeb/userData', 'eA=='],
      ];
      const close = [
        () => ['controlvm', uuid, 'poweroff'],
        () => ['showvminfo', uuid],
        () => [
          'storageattach',
          uuid,
          '--storagectl',
          'SATA',
          '--port',
          '1',
          '--device',
          '0',
          '--medium',
          'none',
        ],
        () => ['closemedium', 'dvd', path.join(dir, 'context.iso')],
        () => [
          'storageattach',
          uuid,
          '--storagectl',
          'SATA',
          '--port',
          '0',
          '--device',
          '0',
          '--medium',
          'none',
        ],
        () => ['closemedium', 'disk', scratch, '--delete'],
        () => ['unregistervm', uuid, '--delete'],
      ];
      for (const [action, steps] of [
        ['open', open],
        ['start', start],
        ['close', close],
      ]) {
        const t0 = performance.now();
        for (const step of steps) {
          const result = await runner.run(DOUBLE, step(), { reject: false });
          if (step === open[1]) uuid = /UUID: (\S+)/.exec(result.stdout)?.[1] ?? '';
        }
        rows[action] ??= { spawns: steps.length, ms: [] };
        rows[action].ms.push(performance.now() - t0);
      }
    }
  } finally {
    await cleanup(dir);
  }
  return rows;
}

const mine = await ours();
const theirs = await original();
console.log(`VBoxManage double, ${ROUNDS} rounds, median wall time per action\n`);
console.log('action            spawns  median ms   original: spawns  median ms');
for (const [action, row] of Object.entries(mine)) {
  const o = theirs[action];
  console.log(
    `${action.padEnd(17)} ${String(row.spawns).padStart(6)} ${median(row.ms).toFixed(0).padStart(10)}   ${
      o ? `${String(o.spawns).padStart(16)} ${median(o.ms).toFixed(0).padStart(10)}` : ''
    }`,
  );
}
const ratio = theirs.open.spawns / mine.open.spawns;
console.log(
  `RESULT virtualbox spawns_open=${mine.open.spawns} spawns_close=${mine.close.spawns} ratio_open=${ratio.toFixed(2)}`,
);
