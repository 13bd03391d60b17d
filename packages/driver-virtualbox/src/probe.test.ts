import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { processResult } from '@cvmweb/core/node';
import { describe, expect, it } from 'vitest';
import { DOUBLE, makeHome, removeHome } from '../test/double-harness.js';
import { findVBoxManage, type ProbeEnvironment, probeVirtualBox } from './probe.js';
import { virtualbox } from './virtualbox.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const fixture = (name: string) => readFileSync(path.join(FIXTURES, name), 'utf8');

function fakeEnv(options: {
  platform?: NodeJS.Platform;
  stdout?: string;
  files?: Record<string, string>;
  executables?: string[];
  env?: Record<string, string>;
  registry?: string;
}): ProbeEnvironment {
  return {
    platform: options.platform ?? 'linux',
    env: options.env ?? { PATH: '/usr/bin' },
    isExecutable: async (file) => (options.executables ?? ['/usr/bin/VBoxManage']).includes(file),
    readText: async (file) => options.files?.[file],
    windowsInstallDir: async () => options.registry,
    version: async (program) =>
      processResult(program, ['--version'], { stdout: options.stdout ?? '7.0.14r161095\n' }),
  };
}

describe('probe verdicts per recorded --version output', () => {
  const table = [
    [
      'version.plain.vbox4.txt',
      {
        installed: true,
        healthy: false,
        version: '4.3.28',
        reason: /older than the minimum 6\.1/,
        fix: /upgrade/,
      },
    ],
    [
      'version.debian-suffix.txt',
      { installed: true, healthy: false, version: '4.3.36', reason: /older/, fix: /upgrade/ },
    ],
    ['version.suse-suffix.txt', { installed: true, healthy: true, version: '6.1.32', score: 80 }],
    [
      'version.warning-vboxdrv.txt',
      {
        installed: true,
        healthy: false,
        version: '6.0.12',
        reason: /kernel driver/,
        fix: /\/sbin\/vboxconfig/,
      },
    ],
    [
      'version.ubuntu-suffix.warning-dkms.txt',
      {
        installed: true,
        healthy: false,
        version: '5.2.34',
        reason: /\/dev\/vboxdrv/,
        fix: /virtualbox-dkms/,
      },
    ],
  ] as const;
  for (const [file, expected] of table) {
    it(file, async () => {
      const verdict = await probeVirtualBox({ environment: fakeEnv({ stdout: fixture(file) }) });
      const { reason, fix, ...rest } = expected as { reason?: RegExp; fix?: RegExp };
      expect(verdict).toMatchObject(rest);
      if (reason) expect(verdict.reason).toMatch(reason);
      if (fix) expect(verdict.fix).toMatch(fix);
      if (!verdict.healthy) expect(verdict.score).toBe(0);
    });
  }

  it('keeps the distribution suffix and revision in details', async () => {
    const verdict = await probeVirtualBox({ environment: fakeEnv({ stdout: '7.0.14_SUSEr161095\n' }) });
    expect(verdict).toMatchObject({
      healthy: true,
      version: '7.0.14',
      details: { distribution: 'SUSE', revision: 161095 },
    });
  });

  it('scores below a healthy KVM on Linux, first on macOS and Windows', async () => {
    const score = async (platform: NodeJS.Platform, executables: string[]) =>
      (await probeVirtualBox({ environment: fakeEnv({ platform, executables, env: {} }) })).score;
    expect(await score('linux', ['/usr/bin/VBoxManage'])).toBe(80);
    expect(await score('darwin', ['/Applications/VirtualBox.app/Contents/MacOS/VBoxManage'])).toBe(100);
    expect(await score('win32', ['C:\\Program Files\\Oracle\\VirtualBox\\VBoxManage.exe'])).toBe(100);
  });

  it('is unhealthy with a fix when KVM holds VT-x (VERR_VMX_IN_VMX_ROOT_MODE)', async () => {
    const verdict = await probeVirtualBox({
      environment: fakeEnv({
        files: {
          '/sys/module/kvm/parameters/enable_virt_at_load': 'Y\n',
          '/sys/module/kvm_intel/initstate': 'live\n',
        },
      }),
    });
    expect(verdict).toMatchObject({ installed: true, healthy: false, score: 0 });
    expect(verdict.reason).toMatch(/VERR_VMX_IN_VMX_ROOT_MODE/);
    expect(verdict.fix).toMatch(/modprobe -r kvm_intel/);
  });

  it('is healthy when KVM is loaded but does not hold VT-x', async () => {
    const verdict = await probeVirtualBox({
      environment: fakeEnv({
        files: {
          '/sys/module/kvm/parameters/enable_virt_at_load': 'N\n',
          '/sys/module/kvm_intel/initstate': 'live\n',
        },
      }),
    });
    expect(verdict.healthy).toBe(true);
  });

  it('is not installed, with an install hint, when nothing is found', async () => {
    const verdict = await probeVirtualBox({ environment: fakeEnv({ executables: [] }) });
    expect(verdict).toMatchObject({ installed: false, healthy: false, score: 0 });
    expect(verdict.fix).toMatch(/install VirtualBox/);
  });

  it('is broken when --version cannot run or prints no version', async () => {
    const env = fakeEnv({});
    const failing = { ...env, version: async () => Promise.reject(new Error('EACCES')) };
    expect(await probeVirtualBox({ environment: failing })).toMatchObject({
      installed: true,
      healthy: false,
    });
    expect(await probeVirtualBox({ environment: fakeEnv({ stdout: 'garbage\n' }) })).toMatchObject({
      installed: true,
      healthy: false,
      reason: expect.stringMatching(/no version/),
    });
  });
});

describe('finding VBoxManage', () => {
  it('searches PATH, then the install variables, the Windows registry and the usual folders', async () => {
    expect(await findVBoxManage(fakeEnv({ env: { PATH: '/a:/b' }, executables: ['/b/vboxmanage'] }))).toBe(
      '/b/vboxmanage',
    );
    const win = (executables: string[], env: Record<string, string> = {}, registry?: string) =>
      findVBoxManage(fakeEnv({ platform: 'win32', env, executables, ...(registry ? { registry } : {}) }));
    expect(await win(['D:\\VB\\VBoxManage.exe'], { VBOX_MSI_INSTALL_PATH: 'D:\\VB\\' })).toBe(
      'D:\\VB\\VBoxManage.exe',
    );
    expect(await win(['E:\\Oracle\\VBoxManage.exe'], { VBOX_INSTALL_PATH: 'X:\\;E:\\Oracle' })).toBe(
      'E:\\Oracle\\VBoxManage.exe',
    );
    expect(await win(['F:\\VBox\\VBoxManage.exe'], {}, 'F:\\VBox\\')).toBe('F:\\VBox\\VBoxManage.exe');
    expect(await win(['C:\\Program Files\\Oracle\\VirtualBox\\VBoxManage.exe'])).toBe(
      'C:\\Program Files\\Oracle\\VirtualBox\\VBoxManage.exe',
    );
    expect(await findVBoxManage(fakeEnv({ env: {}, executables: ['/opt/VirtualBox/VBoxManage'] }))).toBe(
      '/opt/VirtualBox/VBoxManage',
    );
  });
});

describe('the probe on the double', () => {
  it('runs --version for real and reads a WARNING from the wrapper script', async () => {
    const home = await makeHome();
    try {
      const env = { VBOX_USER_HOME: home } as Record<string, string | undefined>;
      const driver = virtualbox({ vboxManagePath: DOUBLE, env });
      expect(await driver.probe()).toMatchObject({ installed: true, healthy: true, version: '7.0.14' });
      env['VBOXDOUBLE_WARNING'] = 'vboxdrv';
      env['VBOXDOUBLE_VERSION'] = '6.1.50r161033';
      expect(await driver.probe()).toMatchObject({ installed: true, healthy: false, version: '6.1.50' });
    } finally {
      await removeHome(home);
    }
  });
});
