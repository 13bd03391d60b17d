import * as path from 'node:path';
import { isHypervisorError } from '@cvmweb/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  doubleDriver,
  makeHome,
  readDouble,
  removeHome,
  runDouble,
  startSpec,
  tinyIso,
  vmSpec,
} from '../test/double-harness.js';
import type { VirtualBoxHypervisor } from './virtualbox-hypervisor.js';
import type { VirtualBoxVm } from './virtualbox-vm.js';

// Each test spawns a dozen or more VBoxManage processes (Node, on a loaded two-core machine).
const SLOW = { timeout: 180_000 };

const homes: string[] = [];
afterEach(async () => {
  for (const home of homes.splice(0)) await removeHome(home);
});

async function world(extra: Record<string, string | undefined> = {}) {
  const home = await makeHome();
  homes.push(home);
  const iso = await tinyIso(home);
  const env: Record<string, string | undefined> = { ...extra };
  const hv = (await doubleDriver(home, env).create()) as VirtualBoxHypervisor;
  const create = async () => (await hv.createVm(vmSpec(home, iso.path, { disk: 0 }))) as VirtualBoxVm;
  const context = () => startSpec(path.join(home, 'context.iso'));
  return { home, env, hv, create, context };
}

async function rejection(promise: Promise<unknown> | undefined) {
  const error = await Promise.resolve(promise).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isHypervisorError(error)) throw new Error(`expected a HypervisorError, got ${String(error)}`);
  return { codeName: error.codeName, message: error.message, details: { ...error.details } };
}

describe('host problems at start give the reason and a fix, and the VM’s real state', () => {
  it('VT-x off in the firmware, Hyper-V holding it, no kernel driver, KVM holding it', SLOW, async () => {
    const { env, create, context } = await world();
    const vm = await create();
    for (const [failure, problem] of [
      ['vtx-disabled', 'vtx-disabled'],
      ['nem', 'hyperv-holds-vtx'],
      ['vboxdrv', 'kernel-driver'],
      ['vmx-root', 'kvm-holds-vtx'],
    ] as const) {
      env['VBOXDOUBLE_STARTVM_FAILURE'] = failure;
      const error = await rejection(vm.start(await context()));
      expect(error.codeName, failure).toBe('EXTERNAL');
      expect(error.details, failure).toMatchObject({ problem, vmState: 'poweroff', fix: expect.any(String) });
      expect(vm.knownState).toBe('poweroff');
    }
    env['VBOXDOUBLE_STARTVM_FAILURE'] = undefined;
    await vm.destroy();
  });

  it('VBoxSVC not answering', SLOW, async () => {
    const { env, hv } = await world();
    env['VBOXDOUBLE_SVC'] = 'down';
    const error = await rejection(hv.listVms());
    expect(error).toMatchObject({ codeName: 'EXTERNAL', details: { problem: 'vboxsvc' } });
    expect(error.message).toContain('Failed to create the VirtualBox object!');
  });

  it('a machine folder that cannot be written: IO, nothing left behind', SLOW, async () => {
    const { home, env, create } = await world();
    env['VBOXDOUBLE_FOLDER'] = 'readonly';
    const error = await rejection(create());
    expect(error).toMatchObject({
      codeName: 'IO',
      details: { problem: 'folder-not-writable', status: 'VERR_ACCESS_DENIED' },
    });
    expect((await readDouble(home)).vms).toEqual([]);
  });
});

describe('locks and failed actions', () => {
  it('a lock held by another process is reported as such at once, not retried blindly', SLOW, async () => {
    const { home, create, context } = await world();
    const vm = await create();
    await runDouble(home, ['__double-lock', vm.id, 'GUI/Qt']);
    for (const action of [() => vm.setExecutionCap(30), async () => vm.start(await context())]) {
      const error = await rejection(action());
      expect(error).toMatchObject({
        codeName: 'CONTROL',
        details: {
          locked: true,
          attempts: 1,
          problem: 'locked-by-other-process',
          sessionName: 'GUI/Qt',
          vmState: 'poweroff',
        },
      });
    }
    await runDouble(home, ['__double-unlock', vm.id]);
    await vm.setExecutionCap(30);
    await vm.destroy();
  });

  it('a failed savestate re-reads the VM: it still runs, and says so', SLOW, async () => {
    const { env, create, context } = await world();
    const vm = await create();
    await vm.start(await context());
    env['VBOXDOUBLE_FAIL_COMMAND'] = 'controlvm';
    env['VBOXDOUBLE_FAIL_CALL'] = '1';
    const error = await rejection(vm.hibernate());
    expect(error).toMatchObject({ codeName: 'CONTROL', details: { vmState: 'running' } });
    expect(vm.knownState).toBe('running');
    env['VBOXDOUBLE_FAIL_CALL'] = undefined;
    env['VBOXDOUBLE_FAIL_COMMAND'] = undefined;
    await vm.destroy();
  });

  it('an unknown VMState is error, and a failure carries its raw value', SLOW, async () => {
    const { env, create } = await world();
    const vm = await create();
    env['VBOXDOUBLE_VMSTATE'] = 'beamingup';
    expect(await vm.state()).toBe('error');
    expect(vm.rawState).toBe('beamingup');
    const error = await rejection(vm.pause());
    expect(error.details['vmState']).toBe('beamingup');
    env['VBOXDOUBLE_VMSTATE'] = undefined;
    await vm.destroy();
  });
});

it('a WARNING block before every command’s output changes nothing', SLOW, async () => {
  const { home, create, context } = await world({ VBOXDOUBLE_WARNING: 'dkms' });
  const probe = await runDouble(home, ['list', 'vms'], { VBOXDOUBLE_WARNING: 'dkms' });
  expect(probe.stdout).toMatch(/^WARNING: The character device \/dev\/vboxdrv does not exist\./);
  const vm = await create();
  await vm.start(await context());
  await vm.setProperty('k', 'v');
  expect(await vm.getProperty('k')).toBe('v');
  expect(await vm.state()).toBe('running');
  await vm.stop({ timeoutMs: 5000 });
  await vm.destroy();
  expect((await readDouble(home)).vms).toEqual([]);
});
