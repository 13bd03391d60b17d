import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AccelerationFacts } from '@cvmweb/core/node';
import { describe, expect, it } from 'vitest';
import { parseAccelHelp, parseQemuVersion } from './accelerators.js';
import { acceleratedScore, probeQemu, QEMU_TCG_SCORE } from './probe.js';
import type { CommandResult, ProbeEnvironment } from './probe-environment.js';

const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));
const recorded = (name: string) => readFileSync(join(fixtures, name), 'utf8');
const ok = (stdout: string): CommandResult => ({ stdout, stderr: '', exitCode: 0 });

const NO_VT: AccelerationFacts = {
  cpuFlag: undefined,
  modules: [],
  devKvm: 'missing',
  usable: false,
  reason: 'the CPU has no VT-x/AMD-V (no vmx or svm flag): QEMU falls back to slow software emulation (TCG)',
  fix: 'enable VT-x/AMD-V in the firmware settings, or enable nested virtualisation on the host of this VM',
};
const KVM_OK: AccelerationFacts = {
  cpuFlag: 'vmx',
  modules: ['kvm', 'kvm_intel'],
  devKvm: 'usable',
  usable: true,
};

interface Machine {
  platform: NodeJS.Platform;
  arch?: string;
  executables: string[];
  env?: Record<string, string>;
  outputs: Record<string, CommandResult>;
  kvm?: AccelerationFacts;
}

/** A machine answering commands from recorded outputs; `calls` lists what was run. */
function machine(m: Machine): ProbeEnvironment & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    platform: m.platform,
    arch: m.arch ?? 'x64',
    env: m.env ?? { PATH: '' },
    isExecutable: async (file) => m.executables.includes(file),
    async run(file, args, options) {
      const key = [file, ...args].join(' ');
      calls.push(key + (options?.input ? ' <qmp' : ''));
      const found = m.outputs[key];
      if (!found) throw new Error(`unexpected command ${key}`);
      return found;
    },
    kvmFacts: async () => m.kvm ?? NO_VT,
  };
}

const trial = (binary: string, accel: string) =>
  `${binary} -machine none -accel ${accel} -nodefaults -display none -qmp stdio`;

describe('QEMU probe', () => {
  it('parses -accel help and --version as recorded on Linux, macOS and Windows', () => {
    expect(parseAccelHelp(recorded('linux-accel-help.txt'))).toEqual(['tcg', 'kvm']);
    expect(parseAccelHelp(recorded('macos-accel-help.txt'))).toEqual(['tcg', 'hvf']);
    expect(parseAccelHelp(recorded('windows-accel-help.txt'))).toEqual(['tcg', 'whpx']);
    expect(parseQemuVersion(recorded('linux-version.txt'))).toBe('7.2.22');
    expect(parseQemuVersion(recorded('macos-version.txt'))).toBe('9.1.2');
    expect(parseQemuVersion(recorded('windows-version.txt'))).toBe('9.1.0');
  });

  it('Linux with /dev/kvm but no VT-x/AMD-V: TCG only, below libvirt, with the fix', async () => {
    const qemu = '/usr/bin/qemu-system-x86_64';
    const env = machine({
      platform: 'linux',
      executables: [qemu, '/usr/bin/qemu-img'],
      kvm: { ...NO_VT, devKvm: 'usable', modules: ['kvm'] },
      outputs: {
        [`${qemu} --version`]: ok(recorded('linux-version.txt')),
        [`${qemu} -accel help`]: ok(recorded('linux-accel-help.txt')),
        [trial(qemu, 'tcg')]: ok(''),
      },
    });
    const verdict = await probeQemu({ acceleration: 'auto' }, env);
    expect(verdict).toMatchObject({ installed: true, healthy: true, score: QEMU_TCG_SCORE });
    expect(verdict.score).toBeLessThan(25); // libvirt under TCG
    expect(verdict.reason).toMatch(/^degraded: the CPU has no VT-x\/AMD-V/);
    expect(verdict.fix).toMatch(/VT-x\/AMD-V/);
    expect(verdict.details).toMatchObject({
      acceleration: 'tcg',
      accelerators: ['tcg', 'kvm'],
      devKvm: 'usable',
    });
    // KVM is never tried when the CPU cannot run it.
    expect(env.calls).not.toContain(`${trial(qemu, 'kvm')} <qmp`);
  });

  it('Linux with working KVM: accelerated, above TCG and below libvirt with KVM (90)', async () => {
    const qemu = '/usr/bin/qemu-system-x86_64';
    const env = machine({
      platform: 'linux',
      executables: [qemu, '/usr/bin/qemu-img'],
      kvm: KVM_OK,
      outputs: {
        [`${qemu} --version`]: ok(recorded('linux-version.txt')),
        [`${qemu} -accel help`]: ok(recorded('linux-accel-help.txt')),
        [trial(qemu, 'kvm')]: ok(''),
      },
    });
    const verdict = await probeQemu({ acceleration: 'auto' }, env);
    expect(verdict).toMatchObject({ healthy: true, score: 85, version: 'QEMU 7.2.22 (kvm)' });
    expect(verdict.reason).toBeUndefined();
    expect(acceleratedScore('linux')).toBeGreaterThan(QEMU_TCG_SCORE);
    expect(acceleratedScore('linux')).toBeLessThan(90);
  });

  it('Linux where KVM looks fine but fails to start (recorded stderr): TCG with the trial failure', async () => {
    const qemu = '/usr/bin/qemu-system-x86_64';
    const env = machine({
      platform: 'linux',
      executables: [qemu, '/usr/bin/qemu-img'],
      kvm: KVM_OK,
      outputs: {
        [`${qemu} --version`]: ok(recorded('linux-version.txt')),
        [`${qemu} -accel help`]: ok(recorded('linux-accel-help.txt')),
        [trial(qemu, 'kvm')]: { stdout: '', stderr: recorded('linux-kvm-trial.stderr.txt'), exitCode: 1 },
        [trial(qemu, 'tcg')]: ok(''),
      },
    });
    const verdict = await probeQemu({ acceleration: 'auto' }, env);
    expect(verdict).toMatchObject({ healthy: true, score: QEMU_TCG_SCORE });
    expect(verdict.reason).toContain(
      'kvm does not start: qemu-system-x86_64: -accel kvm: failed to initialize kvm',
    );
  });

  it('macOS (Homebrew on Apple silicon): HVF when kern.hv_support is 1, TCG with the fix when 0', async () => {
    const qemu = '/opt/homebrew/bin/qemu-system-aarch64';
    const outputs = {
      [`${qemu} --version`]: ok(recorded('macos-version.txt')),
      [`${qemu} -accel help`]: ok(recorded('macos-accel-help.txt')),
      [trial(qemu, 'hvf')]: ok(''),
      [trial(qemu, 'tcg')]: ok(''),
    };
    const mac = (sysctl: string) =>
      machine({
        platform: 'darwin',
        arch: 'arm64',
        env: { PATH: '/usr/bin:/bin' },
        executables: [qemu, '/opt/homebrew/bin/qemu-img'],
        outputs: { ...outputs, 'sysctl -n kern.hv_support': ok(recorded(sysctl)) },
      });
    const good = await probeQemu({ acceleration: 'auto' }, mac('macos-sysctl-hv-support-1.txt'));
    expect(good).toMatchObject({ healthy: true, score: 90, version: 'QEMU 9.1.2 (hvf)' });
    expect(good.details).toMatchObject({ binary: qemu, acceleration: 'hvf', kernHvSupport: '1' });
    const bad = await probeQemu({ acceleration: 'auto' }, mac('macos-sysctl-hv-support-0.txt'));
    expect(bad).toMatchObject({ healthy: true, score: QEMU_TCG_SCORE });
    expect(bad.reason).toMatch(/kern\.hv_support: 0/);
    expect(bad.fix).toMatch(/Hypervisor\.framework/);
  });

  it('Windows (C:\\Program Files\\qemu): WHPX when it starts, else TCG with the feature to enable', async () => {
    const qemu = 'C:\\Program Files\\qemu\\qemu-system-x86_64.exe';
    const outputs = {
      [`${qemu} --version`]: ok(recorded('windows-version.txt')),
      [`${qemu} -accel help`]: ok(recorded('windows-accel-help.txt')),
      [trial(qemu, 'tcg')]: ok(''),
    };
    const win = (whpx: CommandResult) =>
      machine({
        platform: 'win32',
        env: { Path: 'C:\\Windows\\system32' },
        executables: [qemu, 'C:\\Program Files\\qemu\\qemu-img.exe'],
        outputs: { ...outputs, [trial(qemu, 'whpx')]: whpx },
      });
    expect(await probeQemu({ acceleration: 'auto' }, win(ok('')))).toMatchObject({
      healthy: true,
      score: 90,
      version: 'QEMU 9.1.0 (whpx)',
    });
    const off = await probeQemu(
      { acceleration: 'auto' },
      win({ stdout: '', stderr: recorded('windows-whpx-trial.stderr.txt'), exitCode: 1 }),
    );
    expect(off).toMatchObject({ healthy: true, score: QEMU_TCG_SCORE });
    expect(off.reason).toContain('failed to initialize whpx');
    expect(off.fix).toContain('HypervisorPlatform');
  });

  it('not installed: the install command per OS; qemu-img missing: unhealthy', async () => {
    for (const [platform, fix] of [
      ['linux', /apt-get install qemu-system-x86 qemu-utils/],
      ['darwin', /brew install qemu/],
      ['win32', /qemu\.org/],
    ] as const) {
      const verdict = await probeQemu(
        { acceleration: 'auto' },
        machine({ platform, executables: [], outputs: {} }),
      );
      expect(verdict).toMatchObject({ installed: false, healthy: false, score: 0 });
      expect(verdict.fix).toMatch(fix);
    }
    const qemu = '/usr/bin/qemu-system-x86_64';
    const noImg = machine({
      platform: 'linux',
      executables: [qemu],
      outputs: { [`${qemu} --version`]: ok(recorded('linux-version.txt')) },
    });
    expect(await probeQemu({ acceleration: 'auto' }, noImg)).toMatchObject({
      installed: true,
      healthy: false,
      score: 0,
      fix: expect.stringContaining('qemu-utils'),
    });
  });

  it('a path with spaces and quotes is one argument, never split', async () => {
    const qemu = '/opt/my "qemu" dir/qemu-system-x86_64';
    const env = machine({
      platform: 'linux',
      executables: [qemu, '/usr/bin/qemu-img'],
      outputs: {
        [`${qemu} --version`]: ok(recorded('linux-version.txt')),
        [`${qemu} -accel help`]: ok('Accelerators supported in QEMU binary:\ntcg\n'),
        [trial(qemu, 'tcg')]: ok(''),
      },
    });
    expect(await probeQemu({ qemu, acceleration: 'auto' }, env)).toMatchObject({ healthy: true });
  });

  it('on this machine: never throws, and agrees with /dev/kvm and the CPU flags', async () => {
    const { createProcessRunner } = await import('@cvmweb/core/node');
    const { systemProbeEnvironment } = await import('./probe-environment.js');
    const verdict = await probeQemu({ acceleration: 'auto' }, systemProbeEnvironment(createProcessRunner()));
    expect(typeof verdict.healthy).toBe('boolean');
    if (verdict.healthy) {
      const facts = await (await import('@cvmweb/core/node')).detectAcceleration();
      expect(verdict.details?.['acceleration']).toBe(facts.usable ? 'kvm' : 'tcg');
    }
  });
});
