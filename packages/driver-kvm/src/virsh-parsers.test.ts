import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectAcceleration } from './acceleration.js';
import { isRemoteUri, isSessionUri } from './kvm-options.js';
import {
  parseDomState,
  parseKeyValues,
  parseNames,
  parseVersion,
  parseVolumeList,
  stopCauseOf,
  toPowerState,
} from './virsh-parsers.js';

describe('virsh parsers', () => {
  it('reads domstate --reason', () => {
    expect(parseDomState('running (booted)\n\n')).toEqual({ state: 'running', reason: 'booted' });
    expect(parseDomState('shut off (saved)\n')).toEqual({ state: 'shut off', reason: 'saved' });
    expect(parseDomState('paused\n')).toEqual({ state: 'paused' });
  });

  it('maps libvirt states to power states', () => {
    expect(toPowerState('running', false)).toBe('running');
    expect(toPowerState('in shutdown', false)).toBe('running');
    expect(toPowerState('paused', false)).toBe('paused');
    expect(toPowerState('shut off', false)).toBe('poweroff');
    expect(toPowerState('shut off', true)).toBe('saved');
    expect(toPowerState('crashed', false)).toBe('error');
  });

  it('reads key-value output, names, volume tables and versions', () => {
    expect(parseKeyValues('Id:             -\nManaged save:   yes\nCPU time:       1.2s\n')).toMatchObject({
      'Managed save': 'yes',
      'CPU time': '1.2s',
    });
    expect(parseKeyValues('Scheduler      : posix\nvcpu_quota     : 20000\n')['vcpu_quota']).toBe('20000');
    expect(parseNames('a\nb\n\n')).toEqual(['a', 'b']);
    expect(parseVolumeList(' Name   Path\n-----------\n a.iso  /x/a.iso\n b      /x/b\n\n')).toEqual([
      'a.iso',
      'b',
    ]);
    expect(
      parseVersion(
        'Compiled against library: libvirt 9.0.0\nUsing library: libvirt 9.0.0\nUsing API: QEMU 9.0.0\nRunning hypervisor: QEMU 7.2.22\n',
      ),
    ).toEqual({ libvirt: '9.0.0', hypervisor: '7.2.22', hypervisorName: 'QEMU' });
  });

  it('classifies URIs', () => {
    expect(isSessionUri('qemu:///session')).toBe(true);
    expect(isSessionUri('qemu:///system')).toBe(false);
    expect(isRemoteUri('qemu+ssh://root@host/system?no_verify=1')).toBe(true);
    expect(isRemoteUri('qemu:///system')).toBe(false);
  });
});

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

describe('stopCauseOf', () => {
  it.each([
    ['shut off (shutdown)', 'guest'],
    ['shut off (destroyed)', 'failure'],
    ['shut off (crashed)', 'failure'],
    ['shut off (failed)', 'failure'],
    ['crashed (panicked)', 'failure'],
    ['shut off (saved)', undefined],
    ['shut off (unknown)', undefined],
    ['running (booted)', undefined],
  ])('%s → %s', (text, cause) => {
    expect(stopCauseOf(parseDomState(text))).toBe(cause);
  });
});
