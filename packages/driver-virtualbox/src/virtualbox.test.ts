import * as path from 'node:path';
import { type ErrorCodeName, isHypervisorError } from '@cvmweb/core';
import {
  createProcessRunner,
  type ProcessRunner,
  processResult,
  releaseLoopbackPort,
  reservedLoopbackPorts,
} from '@cvmweb/core/node';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DOUBLE,
  doubleDriver,
  makeHome,
  readDouble,
  removeHome,
  startSpec,
  tinyIso,
  vmSpec,
} from '../test/double-harness.js';
import { VBoxManage } from './vboxmanage.js';
import type { VirtualBoxHypervisor } from './virtualbox-hypervisor.js';

// Each test spawns tens of VBoxManage processes (Node, each with the double's own start-up), which a
// loaded two-core machine runs at about one a second: a generous bound, never a speed target.
const SLOW = { timeout: 180_000 };

const homes: string[] = [];
afterEach(async () => {
  for (const home of homes.splice(0)) await removeHome(home);
});

/** A runner over the double that records every argument array. */
function recording(home: string) {
  const calls: string[][] = [];
  const inner = createProcessRunner({ env: { VBOX_USER_HOME: home } });
  const runner: Pick<ProcessRunner, 'run'> = {
    run: (file, argv, options) => {
      calls.push([...argv]);
      return inner.run(file, argv, options);
    },
  };
  return { runner, calls };
}

async function setup() {
  const home = await makeHome();
  homes.push(home);
  const iso = await tinyIso(home);
  const { runner, calls } = recording(home);
  const hv = (await doubleDriver(home, {}, { runner }).create()) as VirtualBoxHypervisor;
  return { home, iso, hv, calls };
}

async function code(promise: Promise<unknown> | undefined): Promise<ErrorCodeName | 'ok'> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    if (isHypervisorError(error)) return error.codeName;
    throw error;
  }
}

describe('VBoxManage invocations per action', SLOW, () => {
  it('open() ≤ 6, start() 3 (2 without the extension pack), close() 3, and the counts are reported', async () => {
    const { home, iso, hv } = await setup();
    const count = async (action: () => Promise<unknown>) => {
      const before = hv.spawns;
      await action();
      return hv.spawns - before;
    };
    let vm = await hv.createVm(vmSpec(home, iso.path));
    const spec = await startSpec(path.join(home, 'context.iso'));
    const counts = {
      open: 0,
      openWithoutDisk: 0,
      start: await count(() => vm.start(spec)),
      pause: await count(() => vm.pause()),
      resume: await count(() => vm.resume()),
      cap: await count(() => vm.setExecutionCap(50)),
      setProperty: await count(() => vm.setProperty('k', 'v')),
      stop: await count(() => vm.stop()),
      close: 0,
    };
    await vm.destroy();
    counts.open = await count(async () => {
      vm = await hv.createVm(vmSpec(home, iso.path));
    });
    await vm.start(spec);
    counts.close = await count(() => vm.destroy());
    counts.openWithoutDisk = await count(async () => {
      vm = await hv.createVm(vmSpec(home, iso.path, { disk: 0 }));
    });
    expect(counts).toEqual({
      open: 6,
      openWithoutDisk: 4,
      start: 3, // storageattach, setextradata (the display's password), startvm
      pause: 1,
      resume: 1,
      cap: 1,
      setProperty: 1,
      stop: 2,
      close: 3,
    });
  });
});

describe('bad input reaches VBoxManage only as single literal arguments', SLOW, () => {
  const nasty = [
    `quote" 'single' \`back\``,
    'comma,separated,values',
    'new\nline\r\nand\ttab',
    '$(rm -rf /); echo pwned | cat > /tmp/x && `id`',
    '--flag',
    '--natpf1=evil,tcp,,1,,22',
    '-v',
    'x'.repeat(16 * 1024),
    'ünïcødé ✓ \u2028',
  ];
  it('property values round-trip exactly and each is one argument', async () => {
    const { home, iso, hv, calls } = await setup();
    const vm = await hv.createVm(vmSpec(home, iso.path));
    for (const value of nasty) {
      await vm.setProperty('tricky', value);
      expect(await vm.getProperty('tricky')).toBe(value.replace(/\r\n/g, '\n'));
      const set = calls.findLast((c) => c[0] === 'guestproperty' && c[1] === 'set');
      expect(set).toEqual(['guestproperty', 'set', vm.id, '/CVMWeb/tricky', value]);
    }
  });

  it('keys outside /CVMWeb/ are refused with NOT_ALLOWED before any VBoxManage run', async () => {
    const { home, iso, hv, calls } = await setup();
    const vm = await hv.createVm(vmSpec(home, iso.path));
    const before = calls.length;
    for (const key of [
      '/VirtualBox/GuestInfo/OS/Product',
      '../secret',
      'a/b',
      '..',
      '',
      '--flag x',
      'k\n',
      'x'.repeat(129),
    ]) {
      expect(await code(vm.setProperty(key, 'v')), key).toBe('NOT_ALLOWED');
      expect(await code(vm.getProperty(key)), key).toBe('NOT_ALLOWED');
    }
    expect(calls.length).toBe(before);
  });

  it('user data never reaches a command line; the context ISO path is one argument', async () => {
    const { home, iso, hv, calls } = await setup();
    const vm = await hv.createVm(vmSpec(home, iso.path));
    const secret = `${nasty.slice(0, 6).join('|')}SECRET-MARKER`;
    await vm.start(await startSpec(path.join(home, 'ctx --flag, "q".iso'), secret));
    expect(calls.flat().some((arg) => arg.includes('SECRET-MARKER'))).toBe(false);
    expect(
      calls.find((c) => c[0] === 'storageattach' && c.includes(path.join(home, 'ctx --flag, "q".iso'))),
    ).toBeDefined();
    await vm.destroy();
  });

  it('VM names and paths with spaces, commas and quotes are single arguments', async () => {
    const { home, iso, hv, calls } = await setup();
    const vm = await hv.createVm(vmSpec(home, iso.path, { name: 'cvmweb-a-b-0123456789ab' }));
    expect(calls.find((c) => c[0] === 'createvm')).toEqual(
      expect.arrayContaining(['--name', 'cvmweb-a-b-0123456789ab']),
    );
    expect((await readDouble(home)).vms.map((v) => v.name)).toEqual(['cvmweb-a-b-0123456789ab']);
    await vm.destroy();
  });
});

describe('ownership', SLOW, () => {
  it('lists and finds only VMs of ours, never a foreign one, even named like ours', async () => {
    const { home, iso, hv } = await setup();
    const run = (argv: string[]) => createProcessRunner({ env: { VBOX_USER_HOME: home } }).run(DOUBLE, argv);
    await run(['createvm', '--name', 'cvmweb-foreign-000000000000', '--register', '--basefolder', home]);
    const foreign = (await readDouble(home)).vms[0]?.uuid ?? '';
    await run(['createvm', '--name', 'somebody else', '--register', '--basefolder', home]);
    const vm = await hv.createVm(vmSpec(home, iso.path));
    expect((await hv.listVms()).map((v) => v.id)).toEqual([vm.id]);
    expect(await hv.findVm(foreign)).toBeUndefined();
    expect(await hv.findVm('00000000-0000-4000-8000-000000000000')).toBeUndefined();
    expect((await hv.findVm(vm.id))?.name).toBe(vm.name);
    await vm.destroy();
    await vm.destroy(); // idempotent
    expect((await readDouble(home)).vms.map((v) => v.name).sort()).toEqual([
      'cvmweb-foreign-000000000000',
      'somebody else',
    ]);
  });
});

describe('API port reservation', SLOW, () => {
  it('reserves a VM’s port from creation until destroy, and the ports of VMs it lists', async () => {
    const { home, iso, hv } = await setup();
    const vm = await hv.createVm(vmSpec(home, iso.path, { disk: 0 }));
    const port = (await readDouble(home)).vms[0]?.natpf[0]?.hostport ?? 0;
    expect(port).toBeGreaterThan(0);
    expect(reservedLoopbackPorts()).toContain(port);
    // A new connection (another process after a restart) learns the port from the listing.
    releaseLoopbackPort(port);
    const again = (await doubleDriver(home).create()) as VirtualBoxHypervisor;
    expect((await again.listVms()).map((v) => v.id)).toEqual([vm.id]);
    expect(reservedLoopbackPorts()).toContain(port);
    await vm.destroy();
    expect(reservedLoopbackPorts()).not.toContain(port);
  });

  it('releases the port when the creation fails', async () => {
    const { home, hv } = await setup();
    const before = reservedLoopbackPorts();
    const error = await hv.createVm(vmSpec(home, path.join(home, 'missing.iso'))).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isHypervisorError(error)).toBe(true);
    expect(reservedLoopbackPorts()).toEqual(before);
  });
});

describe('stop()', SLOW, () => {
  it('powers off after the timeout when the guest ignores the ACPI button', async () => {
    const home = await makeHome();
    homes.push(home);
    const iso = await tinyIso(home);
    const env: Record<string, string | undefined> = { VBOXDOUBLE_ACPI: 'ignore' };
    const hv = await doubleDriver(home, env).create();
    const vm = await hv.createVm(vmSpec(home, iso.path, { disk: 0 }));
    await vm.start(await startSpec(path.join(home, 'c.iso')));
    const started = Date.now();
    await vm.stop({ timeoutMs: 300 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(await vm.state()).toBe('poweroff');
    await vm.destroy();
  });
});

describe('locked machines', SLOW, () => {
  it('are retried with back-off, then fail CONTROL with VirtualBox’s text and the command', async () => {
    const lockedResult = processResult('/bin/VBoxManage', ['modifyvm', 'x'], {
      exitCode: 1,
      stderr:
        "VBoxManage: error: The machine 'x' is already locked for a session (or being unlocked)\nVBoxManage: error: Details: code VBOX_E_INVALID_OBJECT_STATE (0x80bb0007), component MachineWrap, interface IMachine, callee nsISupports\n",
    });
    let spawns = 0;
    const runner: Pick<ProcessRunner, 'run'> = {
      run: async () => {
        spawns++;
        return lockedResult;
      },
    };
    const error = await new VBoxManage(runner, '/bin/VBoxManage', { attempts: 3, delayMs: 1 })
      .run(['modifyvm', 'x'], { code: 'MODIFY' })
      .catch((e: unknown) => e);
    expect(spawns).toBe(4);
    expect(error).toMatchObject({
      codeName: 'CONTROL',
      message: "The machine 'x' is already locked for a session (or being unlocked)",
      details: {
        command: ['/bin/VBoxManage', 'modifyvm', 'x'],
        resultCode: 'VBOX_E_INVALID_OBJECT_STATE',
        locked: true,
      },
    });
  });
});
