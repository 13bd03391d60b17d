import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectAcceleration } from './detect-acceleration.js';

describe('detectAcceleration', () => {
  const fixture = async (flags: string, modules: string, devKvm: boolean) => {
    const dir = await mkdtemp(join(tmpdir(), 'kvm-accel-'));
    await writeFile(join(dir, 'cpuinfo'), `processor\t: 0\nflags\t\t: fpu sse ${flags}\n`);
    await writeFile(join(dir, 'modules'), modules);
    if (devKvm) await writeFile(join(dir, 'kvm'), '');
    return { cpuinfo: join(dir, 'cpuinfo'), modules: join(dir, 'modules'), devKvm: join(dir, 'kvm') };
  };

  it('trusts KVM only with a VT-x/AMD-V flag, its module and /dev/kvm', async () => {
    expect((await detectAcceleration(await fixture('vmx', 'kvm_intel 1 0\nkvm 2 1\n', true))).usable).toBe(
      true,
    );
    expect((await detectAcceleration(await fixture('svm', 'kvm_amd 1 0\n', true))).usable).toBe(true);
  });

  it('sees through a PVM /dev/kvm, a missing module and a missing device', async () => {
    const pvm = await detectAcceleration(await fixture('', 'kvm_pvm 1 0\nkvm 2 1\n', true));
    expect(pvm.usable).toBe(false);
    expect(pvm.reason).toMatch(/kvm_pvm/);
    expect(pvm.fix).toBeTruthy();
    const noModule = await detectAcceleration(await fixture('vmx', 'kvm 2 0\n', true));
    expect(noModule).toMatchObject({ usable: false, fix: 'sudo modprobe kvm_intel' });
    expect(await detectAcceleration(await fixture('svm', 'kvm_amd 1 0\n', false))).toMatchObject({
      usable: false,
      devKvm: 'missing',
    });
  });
});
