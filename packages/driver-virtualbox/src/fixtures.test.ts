import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createProcessRunner, type ProcessResult } from '@cvmweb/core/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOUBLE, makeHome, removeHome } from '../test/double-harness.js';
import { FAILURE_MODE_FIXTURES } from '../test/failure-fixtures.js';
import { parseCreateMedium, parseCreateVm } from './create-output-parser.js';
import { classifyVBoxError, parseVBoxError, parseWarnings } from './error-parser.js';
import { parseGuestPropertyEnumerate, parseGuestPropertyGet } from './guest-property-parser.js';
import { parseListVms } from './list-vms-parser.js';
import { attachments, natRules, parseMachineReadable } from './machinereadable-parser.js';
import { mapVmState } from './state-mapping.js';
import { parseVersion } from './version-parser.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const fixture = (name: string) => readFileSync(path.join(FIXTURES, name), 'utf8');

let home: string;
let env: Record<string, string | undefined>;
const run = (argv: string[], extra: Record<string, string> = {}): Promise<ProcessResult> =>
  createProcessRunner({ env: { ...env, ...extra } }).run(DOUBLE, argv, { reject: false });

beforeAll(async () => {
  home = await makeHome();
  env = { VBOX_USER_HOME: home };
  await writeFile(path.join(home, 'boot.iso'), 'iso');
  await run(['createvm', '--name', 'rh9-node1', '--register', '--basefolder', path.join(home, 'vms')]);
});
afterAll(async () => removeHome(home));

/** Every fixture and what checks it; the last test makes sure none is forgotten. */
const covered = new Set<string>();
const check = (name: string, title: string, body: () => unknown) => {
  covered.add(name);
  it(`${name}: ${title}`, body);
};

describe('--version', () => {
  const table = [
    ['version.plain.vbox4.txt', { major: 4, minor: 3, patch: 28, revision: 100309, warnings: 0 }],
    [
      'version.suse-suffix.txt',
      { major: 6, minor: 1, patch: 32, suffix: 'SUSE', revision: 149290, warnings: 0 },
    ],
    [
      'version.debian-suffix.txt',
      { major: 4, minor: 3, patch: 36, suffix: 'Debian', revision: 105129, warnings: 0 },
    ],
    ['version.warning-vboxdrv.txt', { major: 6, minor: 0, patch: 12, revision: 133076, warnings: 1 }],
    [
      'version.ubuntu-suffix.warning-dkms.txt',
      { major: 5, minor: 2, patch: 34, suffix: 'Ubuntu', revision: 133883, warnings: 1 },
    ],
  ] as const;
  for (const [name, expected] of table) {
    check(name, 'parses, and the double prints the same text for that version', async () => {
      const text = fixture(name);
      const parsed = parseVersion(text);
      expect(parsed).toMatchObject({ ...expected, warnings: expect.any(Array) });
      expect(parsed?.warnings).toHaveLength(expected.warnings);
      const warning = name.includes('vboxdrv') ? 'vboxdrv' : name.includes('dkms') ? 'dkms' : '';
      const result = await run(['--version'], {
        VBOXDOUBLE_VERSION: parsed?.raw ?? '',
        VBOXDOUBLE_WARNING: warning,
      });
      expect(result.stdout).toBe(text);
      expect(result.exitCode).toBe(0);
    });
  }
});

describe('showvminfo --machinereadable', () => {
  check('showvminfo-machinereadable.poweroff.vbox7.txt', 'parses 7.0 quirks', () => {
    const info = parseMachineReadable(fixture('showvminfo-machinereadable.poweroff.vbox7.txt'));
    expect(info.get('name')).toBe('manjaro-gnome-x64-full-clean');
    expect(info.get('UUID')).toBe('19e117b3-06f4-4a1e-851d-47336ad6a142');
    expect(info.get('BIOS NVRAM File')).toMatch(/\.nvram$/);
    expect(info.get('description')).toBe('name1=value1\nname2=value2');
    expect(info.has('Encryption:     disabled')).toBe(false);
    expect(info.get('memory')).toBe('4096');
    expect(mapVmState(info.get('VMState')).state).toBe('poweroff');
    expect(info.get('IDE-1-0')).toBe('emptydrive');
  });
  check(
    'showvminfo-machinereadable.poweroff-snapshot.vbox5.txt',
    'parses a 5.x powered-off VM with a snapshot',
    () => {
      const info = parseMachineReadable(fixture('showvminfo-machinereadable.poweroff-snapshot.vbox5.txt'));
      expect(mapVmState(info.get('VMState'))).toEqual({ state: 'poweroff', raw: 'poweroff', known: true });
      expect(info.get('CurrentSnapshotUUID')).toBe('085cbbec-70cd-4864-9208-5d938dcabb71');
      expect(attachments(info).some((a) => a.medium.includes('Snapshots/{'))).toBe(true);
    },
  );
  check(
    'showvminfo-machinereadable.saved.vbox5.txt',
    'parses a saved VM, its NAT rule and unquoted values',
    () => {
      const info = parseMachineReadable(fixture('showvminfo-machinereadable.saved.vbox5.txt'));
      expect(mapVmState(info.get('VMState')).state).toBe('saved');
      expect(info.get('VMStateFile')).toMatch(/\.sav$/);
      expect(natRules(info)).toEqual([
        { name: 'ssh', protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 2222, guestIp: '', guestPort: 22 },
      ]);
      expect([...info.values()]).toContain('<not set>');
    },
  );
  check(
    'showvminfo-machinereadable.running-headless.vbox5.txt',
    'parses a running VM with empty host IPs',
    () => {
      const info = parseMachineReadable(fixture('showvminfo-machinereadable.running-headless.vbox5.txt'));
      expect(mapVmState(info.get('VMState')).state).toBe('running');
      expect(info.get('SessionName')).toBe('headless');
      expect(natRules(info).map((r) => [r.hostIp, r.hostPort])).toEqual([
        ['127.0.0.1', 2200],
        ['', 2201],
        ['', 2202],
      ]);
    },
  );
  check('showvminfo-machinereadable.nics-excerpt.hostonlynet.vbox7.txt', 'parses the 7.x NIC section', () => {
    const info = parseMachineReadable(
      fixture('showvminfo-machinereadable.nics-excerpt.hostonlynet.vbox7.txt'),
    );
    expect(info.get('nic2')).toBe('hostonlynetwork');
    expect(natRules(info)[0]?.hostPort).toBe(2222);
  });

  it('the double prints what the recordings print: same line grammar, same value forms for shared keys', async () => {
    await run([
      'modifyvm',
      'rh9-node1',
      '--natpf1',
      'cvmweb-api,tcp,127.0.0.1,2222,,80',
      '--description',
      'a "q" \\ b\nline2',
    ]);
    await run(['storagectl', 'rh9-node1', '--name', 'SATA', '--add', 'sata', '--portcount', '4']);
    await run([
      'storageattach',
      'rh9-node1',
      '--storagectl',
      'SATA',
      '--port',
      '0',
      '--device',
      '0',
      '--type',
      'dvddrive',
      '--medium',
      path.join(home, 'boot.iso'),
    ]);
    const text = (await run(['showvminfo', 'rh9-node1', '--machinereadable'])).stdout;
    const recorded = fixture('showvminfo-machinereadable.poweroff.vbox7.txt');
    const grammar = /^(?:"[^"]+"|[A-Za-z0-9_().\-[\] ]+)=(?:"|[^"])|^Encryption: {5}disabled$|^[^=]*"$/;
    const lines = text.split('\n').filter(Boolean);
    for (const line of lines) expect(line, line).toMatch(grammar);
    const quoted = (t: string) =>
      new Map(t.split('\n').map((l) => [l.split('=')[0], l.split('=')[1]?.startsWith('"')]));
    const ours = quoted(text);
    const theirs = quoted(recorded);
    for (const [key, isQuoted] of ours)
      if (key && theirs.has(key)) expect(isQuoted, key).toBe(theirs.get(key));
    const info = parseMachineReadable(text);
    expect(info.get('description')).toBe('a "q" \\ b\nline2');
    expect(natRules(info)[0]).toMatchObject({
      name: 'cvmweb-api',
      hostIp: '127.0.0.1',
      hostPort: 2222,
      guestPort: 80,
    });
    expect(attachments(info).find((a) => a.port === 0)?.medium).toBe(path.join(home, 'boot.iso'));
    expect(mapVmState(info.get('VMState')).known).toBe(true);
  });
});

describe('list', () => {
  check('list-vms.many.txt', 'parses, and the double prints the same form', async () => {
    const vms = parseListVms(fixture('list-vms.many.txt'));
    expect(vms).toHaveLength(10);
    expect(vms[0]).toEqual({
      name: 'boot2docker-vm',
      uuid: 'd4d92435-7863-43ab-9a4a-1b24654abcd8',
      inaccessible: false,
    });
    const listed = (await run(['list', 'vms'])).stdout;
    expect(listed).toMatch(/^"rh9-node1" \{[0-9a-f-]{36}\}\n$/);
  });
  check(
    'list-runningvms.windows.txt',
    'parses names with spaces; the double keeps names with quotes',
    async () => {
      const vms = parseListVms(fixture('list-runningvms.windows.txt'));
      expect(vms.map((v) => v.name)).toContain('Windows 10 x64 ru');
      await run([
        'createvm',
        '--name',
        'odd "name", with spaces',
        '--register',
        '--basefolder',
        path.join(home, 'vms'),
      ]);
      const names = parseListVms((await run(['list', 'vms'])).stdout).map((v) => v.name);
      expect(names).toContain('odd "name", with spaces');
      await run(['unregistervm', 'odd "name", with spaces', '--delete']);
    },
  );
  check('list-hdds.txt', 'the double prints hard disks with the same labels in the same order', async () => {
    const labels = (t: string) =>
      t
        .split('\n\n')[0]
        ?.split('\n')
        .map((l) => l.split(':')[0]);
    await mkdir(path.join(home, 'disks'), { recursive: true });
    await run(['createmedium', 'disk', '--filename', path.join(home, 'disks', 'a.vdi'), '--size', '10']);
    expect(labels((await run(['list', 'hdds'])).stdout)).toEqual(labels(fixture('list-hdds.txt')));
    await run(['closemedium', 'disk', path.join(home, 'disks', 'a.vdi'), '--delete']);
  });
  check('list-hostonlyifs.txt', 'is not used by the driver (NAT only), kept as a reference', () => {
    expect(fixture('list-hostonlyifs.txt')).toMatch(/^Name: +vboxnet0$/m);
  });
  check(
    'list-systemproperties.excerpt.vbox7.txt',
    'is not used by the driver, kept as a reference (7.x needs LC_ALL=C)',
    () => {
      expect(fixture('list-systemproperties.excerpt.vbox7.txt')).toMatch(/^Maximum guest CPU count: +64$/m);
    },
  );
});

describe('guestproperty', () => {
  check('guestproperty-get.value.txt', 'parses, and the double prints the same form', async () => {
    expect(parseGuestPropertyGet(fixture('guestproperty-get.value.txt'))).toBe('10.0.0.90');
    await run(['guestproperty', 'set', 'rh9-node1', '/VirtualBox/GuestInfo/Net/0/V4/IP', '10.0.0.90']);
    const out = await run(['guestproperty', 'get', 'rh9-node1', '/VirtualBox/GuestInfo/Net/0/V4/IP']);
    expect(out.stdout).toBe(fixture('guestproperty-get.value.txt'));
  });
  check('guestproperty-get.no-value.txt', 'is absent, with exit 0, in both', async () => {
    expect(parseGuestPropertyGet(fixture('guestproperty-get.no-value.txt'))).toBeUndefined();
    const out = await run(['guestproperty', 'get', 'rh9-node1', '/CVMWeb/unset']);
    expect(out).toMatchObject({ exitCode: 0, stdout: fixture('guestproperty-get.no-value.txt') });
  });
  check(
    'guestproperty-enumerate.vbox6.txt',
    'parses the 6.x format; the double prints it with --old-format',
    async () => {
      const props = parseGuestPropertyEnumerate(fixture('guestproperty-enumerate.vbox6.txt'));
      expect(props).toHaveLength(8);
      expect(props.find((p) => p.name === '/VirtualBox/HostGuest/SysprepExec')).toMatchObject({ value: '' });
      expect(props[0]).toMatchObject({ value: 'en_US', flags: 'RDONLYGUEST' });
      const out = (await run(['guestproperty', 'enumerate', 'rh9-node1', '--old-format'])).stdout;
      for (const line of out.trim().split('\n'))
        expect(line).toMatch(/^Name: .*, value: .*, timestamp: \d+, flags:( .*)?$/);
      expect(parseGuestPropertyEnumerate(out).map((p) => p.value)).toContain('10.0.0.90');
    },
  );
  check(
    'guestproperty-enumerate.excerpt.vbox7.txt',
    'parses the 7.x format; the double pads columns the same way',
    async () => {
      const props = parseGuestPropertyEnumerate(fixture('guestproperty-enumerate.excerpt.vbox7.txt'));
      expect(props).toHaveLength(7);
      expect(props[0]).toMatchObject({
        name: '/VirtualBox/GuestAdd/GuiOnFocus',
        value: '0',
        flags: 'TRANSIENT, RDONLYGUEST',
      });
      await run(['guestproperty', 'set', 'rh9-node1', '/CVMWeb/x', '0']);
      const out = (await run(['guestproperty', 'enumerate', 'rh9-node1'])).stdout;
      const lines = out.trim().split('\n');
      const at = lines.map((l) => l.indexOf(' @ '));
      expect(new Set(at).size).toBe(1);
      expect(parseGuestPropertyEnumerate(out).map((p) => p.name)).toEqual([
        '/CVMWeb/x',
        '/VirtualBox/GuestInfo/Net/0/V4/IP',
      ]);
    },
  );
});

describe('commands', () => {
  const shape = (text: string) =>
    text.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, 'UUID').replace(/'[^']*'/g, "'…'");
  check('createvm-register.vbox7.txt', 'parses, and the double prints the same three lines', async () => {
    expect(parseCreateVm(fixture('createvm-register.vbox7.txt'))).toEqual({
      name: 'rh9-node1',
      uuid: '253cc2ba-935b-482c-83d3-14bc4ed72c22',
      settingsFile: '/home/user/VBoxHome/vm/rh9-node1/rh9-node1.vbox',
    });
    const out = await run([
      'createvm',
      '--name',
      'other',
      '--register',
      '--basefolder',
      path.join(home, 'vms'),
    ]);
    expect(shape(out.stdout)).toBe(shape(fixture('createvm-register.vbox7.txt')));
  });
  check(
    'createmedium.vbox7.txt',
    'parses; the double prints progress on stderr and the UUID on stdout',
    async () => {
      const [progress, created] = fixture('createmedium.vbox7.txt').split('\n');
      expect(parseCreateMedium(fixture('createmedium.vbox7.txt'))).toBe(
        '4973af85-5e20-43c2-b630-73084cc5191f',
      );
      const out = await run([
        'createmedium',
        'disk',
        '--filename',
        path.join(home, 'disks', 'b.vdi'),
        '--size',
        '10',
      ]);
      expect(out.stderr).toBe(`${progress}\n`);
      expect(shape(out.stdout)).toBe(`${shape(created ?? '')}\n`);
    },
  );
  check('modifyvm.warning-bridged-interface.vbox7.txt', 'a warning line is not an error', () => {
    const text = fixture('modifyvm.warning-bridged-interface.vbox7.txt');
    expect(parseVBoxError(text, 0)).toBeUndefined();
    expect(parseWarnings(text)).toEqual(['Interface "eth0" doesn\'t seem to exist']);
  });
  check('startvm-headless.windows.txt', 'the double prints the same two lines', async () => {
    const out = await run(['startvm', 'other', '--type', 'headless']);
    expect(out.stdout.replace(/"other"/g, '"AlmaLinux9"')).toBe(fixture('startvm-headless.windows.txt'));
  });
  check(
    'controlvm-poweroff.progress.windows.txt',
    'the double prints the same progress line on stderr',
    async () => {
      const out = await run(['controlvm', 'other', 'poweroff']);
      expect(out).toMatchObject({
        exitCode: 0,
        stdout: '',
        stderr: fixture('controlvm-poweroff.progress.windows.txt'),
      });
      await run(['unregistervm', 'other', '--delete']);
    },
  );
});

describe('errors', () => {
  const table = [
    ['error.not-found.unregistervm.txt', 'NOT_FOUND', ['unregistervm', 'al2023', '--delete']],
    ['error.not-found.windows.txt', 'NOT_FOUND', undefined],
    ['error.not-found.uuid.guestcontrol.windows.txt', 'NOT_FOUND', undefined],
    ['error.locked.modifyvm-running.txt', 'LOCKED', 'running:modifyvm'],
    ['error.invalid-vm-state.paused-acpipowerbutton.txt', 'INVALID_STATE', 'paused:acpipowerbutton'],
    ['error.invalid-vm-state.saved-modifyvm.txt', 'INVALID_STATE', 'saved:modifyvm'],
    ['error.not-running.controlvm.txt', 'INVALID_STATE', 'poweroff:controlvm'],
    ['error.ns-error-failure.startvm-terminated.txt', 'CONTROL', undefined],
    ['error.vmx-root-mode.startvm.txt', 'EXTERNAL', 'vmx:startvm'],
    ['error.syntax.showvminfo.vbox4.txt', 'EXTERNAL', undefined],
    ['error.syntax.invalid-command.excerpt.vbox7.txt', 'EXTERNAL', ['list2']],
  ] as const;

  async function doubleFailure(how: string | readonly string[]): Promise<ProcessResult> {
    if (typeof how !== 'string') return run([...how]);
    const [state, command] = how.split(':');
    const vm = `err-${state}`;
    await run(['createvm', '--name', vm, '--register', '--basefolder', path.join(home, 'vms')]);
    if (state !== 'poweroff' && state !== 'vmx') await run(['startvm', vm, '--type', 'headless']);
    if (state === 'paused') await run(['controlvm', vm, 'pause']);
    if (state === 'saved') await run(['controlvm', vm, 'savestate']);
    try {
      if (command === 'modifyvm') return await run(['modifyvm', vm, '--cpus', '2']);
      if (command === 'acpipowerbutton') return await run(['controlvm', vm, 'acpipowerbutton']);
      if (command === 'controlvm') return await run(['controlvm', vm, 'pause']);
      return await run(['startvm', vm, '--type', 'headless'], { VBOXDOUBLE_VMX_ROOT: '1' });
    } finally {
      await run(['controlvm', vm, 'poweroff']);
      await run(['discardstate', vm]);
      await run(['unregistervm', vm, '--delete']);
    }
  }

  for (const [name, kind, how] of table) {
    check(name, `maps to ${kind}${how ? '; the double fails alike' : ''}`, async () => {
      const text = fixture(name);
      const exit = name.includes('syntax') ? 2 : 1;
      const info = parseVBoxError(text, exit);
      expect(info).toBeDefined();
      if (!info) return;
      expect(classifyVBoxError(info, 'CONTROL')).toBe(kind);
      if (!how) return;
      const result = await doubleFailure(how);
      expect(result.exitCode).toBe(exit);
      const ours = parseVBoxError(result.stderr, result.exitCode ?? -1);
      expect(ours && classifyVBoxError(ours, 'CONTROL')).toBe(kind);
      expect(ours?.resultCode).toBe(info.resultCode);
      const first = (t: string) =>
        t
          .split('\n')[0]
          ?.replace(/'[^']*'/g, "'…'")
          .replace(/\.exe:/, ':');
      if (!name.includes('syntax.invalid')) expect(first(result.stderr)).toBe(first(text));
    });
  }
});

it('covers every recorded fixture', () => {
  const files = readdirSync(FIXTURES).filter((f) => f !== 'SOURCES.md');
  const elsewhere = new Set<string>(FAILURE_MODE_FIXTURES);
  expect(files.filter((f) => !covered.has(f) && !elsewhere.has(f))).toEqual([]);
  for (const file of files) expect(fixture('SOURCES.md')).toContain(`\`${file}\``);
});
