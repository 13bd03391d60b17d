import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FAILURE_MODE_FIXTURES } from '../test/failure-fixtures.js';
import { classifyVBoxError, parseVBoxError } from './error-parser.js';
import { hintFor } from './failure-hints.js';
import { isInaccessibleFailure } from './inaccessible-vm.js';
import { parseInaccessibleVms, parseListVms } from './list-vms-parser.js';
import { parseMachineReadable } from './machinereadable-parser.js';
import { probeVirtualBox } from './probe.js';
import { VBoxManage } from './vboxmanage.js';
import { parseVersion } from './version-parser.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const fixture = (name: string) => readFileSync(path.join(FIXTURES, name), 'utf8');

describe('recorded failures give a precise reason and a fix', () => {
  const table = [
    ['error.vtx-disabled.startvm.txt', 'EXTERNAL', 'vtx-disabled', /BIOS\/UEFI/],
    ['error.nem-hyperv.startvm.windows.txt', 'EXTERNAL', 'hyperv-holds-vtx', /hypervisorlaunchtype off/],
    ['error.hyperv-raw-mode.startvm.windows.txt', 'EXTERNAL', 'hyperv-holds-vtx', /Hyper-V/],
    ['error.vboxsvc-down.list-vms.windows.txt', 'EXTERNAL', 'vboxsvc', /VBoxSVC/],
    ['error.folder-not-writable.import.windows.txt', 'IO', 'folder-not-writable', /writable/],
  ] as const;
  for (const [name, code, problem, fix] of table) {
    it(`${name}: ${code}, ${problem}`, () => {
      const info = parseVBoxError(fixture(name), 1);
      expect(info).toBeDefined();
      if (!info) return;
      expect(classifyVBoxError(info, 'CONTROL')).toBe(code);
      const hint = hintFor(info);
      expect(hint?.problem).toBe(problem);
      expect(hint?.fix).toMatch(fix);
    });
  }

  it('the kernel driver text (vboxdrv not loaded) points at vboxconfig / vboxdrv.sh setup', () => {
    const info = parseVBoxError(
      'VBoxManage: error: where: suplibOsInit what: 3 VERR_VM_DRIVER_NOT_INSTALLED (-1908) - The support driver is not installed. On linux, open returned ENOENT.\n',
      1,
    );
    expect(info && classifyVBoxError(info, 'CONTROL')).toBe('EXTERNAL');
    expect(info && hintFor(info)?.fix).toMatch(/vboxconfig.*vboxdrv\.sh setup/);
  });

  it('a lock error is retried only while no session holds the lock', async () => {
    const stderr =
      "VBoxManage: error: The machine 'x' is already locked for a session (or being unlocked)\nVBoxManage: error: Details: code VBOX_E_INVALID_OBJECT_STATE (0x80bb0007), component MachineWrap, interface IMachine, callee nsISupports\n";
    let spawns = 0;
    const vbox = new VBoxManage(
      {
        run: async (file, args) => {
          spawns++;
          return { command: file, args, exitCode: 1, stdout: '', stderr } as never;
        },
      },
      '/bin/VBoxManage',
      { attempts: 3, delayMs: 1 },
    );
    const held = await vbox
      .run(['modifyvm', 'x'], {
        code: 'MODIFY',
        lockHolder: async () => ({ vmState: 'poweroff', sessionName: 'GUI/Qt', running: false }),
      })
      .catch((e: unknown) => e);
    expect(spawns).toBe(1);
    expect(held).toMatchObject({
      codeName: 'CONTROL',
      details: {
        locked: true,
        problem: 'locked-by-other-process',
        sessionName: 'GUI/Qt',
        vmState: 'poweroff',
      },
    });
    spawns = 0;
    await vbox
      .run(['modifyvm', 'x'], {
        code: 'MODIFY',
        lockHolder: async () => ({ vmState: 'poweroff', running: false }),
      })
      .catch(() => undefined);
    expect(spawns).toBe(4);
  });
});

describe('inaccessible VMs in VirtualBox’s own words', () => {
  it('7.2’s showvminfo failure is recognised as an inaccessible machine', async () => {
    const vbox = new VBoxManage(
      {
        run: async (file, args) =>
          ({
            command: file,
            args,
            exitCode: 1,
            stdout: '',
            stderr: fixture('error.inaccessible.showvminfo.vbox72.txt'),
          }) as never,
      },
      'VBoxManage',
    );
    const error = await vbox.run(['showvminfo', 'x', '--machinereadable'], { code: 'QUERY' }).catch((e) => e);
    expect(isInaccessibleFailure(error)).toBe(true);
  });

  it('the settings file of an inaccessible VM is read from the standard listing', () => {
    expect(parseInaccessibleVms(fixture('showvminfo.inaccessible.stdout.vbox4.txt'))).toEqual([
      {
        uuid: '80af4d80-e4bd-4fe2-8866-3d3a05290375',
        settingsFile: '/root/VirtualBox VMs/ds1_1346358415/ds1_1346358415.vbox',
      },
    ]);
    // Printed with exit code 0: the error lines alone must not hide the listing.
    const info = parseVBoxError(fixture('showvminfo.inaccessible.stderr.vbox4.txt'), 0);
    expect(info?.message).toMatch(/Runtime error opening .* for reading: -102/);
  });

  it('list vms marks `"<inaccessible>" {uuid}` (VBoxManageInfo.cpp, VMINFO_COMPACT)', () => {
    expect(
      parseListVms(
        '"<inaccessible>" {DD5682A8-7E9B-45EB-A097-DB98E5D3D1F7}\n"a" {dd5682a8-7e9b-45eb-a097-db98e5d3d1f8}\n',
      ),
    ).toEqual([
      { name: '<inaccessible>', uuid: 'dd5682a8-7e9b-45eb-a097-db98e5d3d1f7', inaccessible: true },
      { name: 'a', uuid: 'dd5682a8-7e9b-45eb-a097-db98e5d3d1f8', inaccessible: false },
    ]);
  });
});

describe('version strings with suffixes and noise', () => {
  const warning = fixture('version.ubuntu-suffix.warning-dkms.txt').replace(/^\S+\n$/m, '');
  const table = [
    ['7.0.14_SUSE', { major: 7, minor: 0, patch: 14, suffix: 'SUSE' }],
    ['7.1.0_BETA2', { major: 7, minor: 1, patch: 0, suffix: 'BETA2' }],
    ['7.1.0_BETA2r164728', { major: 7, minor: 1, patch: 0, suffix: 'BETA2', revision: 164728 }],
    ['6.1.50_Ubuntur161033', { major: 6, minor: 1, patch: 50, suffix: 'Ubuntu', revision: 161033 }],
    ['7.2.4r170995\r', { major: 7, minor: 2, patch: 4, revision: 170995 }],
  ] as const;
  for (const [line, expected] of table) {
    it(`${JSON.stringify(line)}, also after the wrapper's WARNING block`, async () => {
      expect(parseVersion(`${line}\n`)).toMatchObject(expected);
      const noisy = parseVersion(`${warning}${line}\n`);
      expect(noisy).toMatchObject(expected);
      expect(noisy?.warnings).toHaveLength(1);
      const probed = await probeVirtualBox({
        program: '/usr/bin/VBoxManage',
        environment: {
          platform: 'darwin',
          env: {},
          isExecutable: async () => true,
          readText: async () => undefined,
          windowsInstallDir: async () => undefined,
          version: async () => ({ stdout: `${line}\n`, stderr: '', exitCode: 0 }) as never,
        },
      });
      expect(probed).toMatchObject({
        healthy: true,
        version: `${expected.major}.${expected.minor}.${expected.patch}`,
      });
    });
  }

  it('parsers read their output after a WARNING block', () => {
    const block =
      'WARNING: The vboxdrv kernel module is not loaded. Either there is no module\n         available.\n\n';
    expect(parseMachineReadable(`${block}name="x"\nVMState="running"\n`).get('VMState')).toBe('running');
    expect(parseListVms(`${block}"x" {dd5682a8-7e9b-45eb-a097-db98e5d3d1f7}\n`)).toHaveLength(1);
  });
});

it('every failure-mode fixture is checked here and has a source', () => {
  const sources = fixture('SOURCES.md');
  const files = new Set(readdirSync(FIXTURES));
  for (const name of FAILURE_MODE_FIXTURES) {
    expect(files.has(name), name).toBe(true);
    expect(sources).toContain(`\`${name}\``);
  }
});
