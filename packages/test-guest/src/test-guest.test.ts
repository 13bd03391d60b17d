import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageCatalog, parseGuestReport } from '@cvmweb/core';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILD_SCRIPT, TEST_GUEST_VERSIONS, type TestGuest, testGuestCatalog } from './index.js';

const guest: TestGuest = {
  directory: '/cache/guest',
  vmlinux: '/cache/guest/vmlinux',
  vmlinuz: '/cache/guest/vmlinuz',
  initrd: '/cache/guest/initrd.gz',
  iso: '/cache/guest/guest.iso',
  qcow2: '/cache/guest/guest.qcow2',
  cmdline: 'console=ttyS0 quiet panic=-1 video=1024x768',
  sha256: {
    vmlinux: 'a'.repeat(64),
    vmlinuz: 'b'.repeat(64),
    'initrd.gz': 'c'.repeat(64),
    'guest.iso': 'd'.repeat(64),
    'guest.qcow2': 'e'.repeat(64),
  },
};

describe('the catalog', () => {
  it('offers every form as file: URLs with checksums, valid for core', () => {
    const entries = testGuestCatalog(guest);
    const catalog = new ImageCatalog(entries, { defaults: [] });
    expect(entries.map((e) => e.version)).toEqual(Object.values(TEST_GUEST_VERSIONS));
    expect(catalog.get(TEST_GUEST_VERSIONS.iso)).toMatchObject({
      kind: 'iso',
      url: 'file:///cache/guest/guest.iso',
    });
    expect(catalog.get(TEST_GUEST_VERSIONS.disk)).toMatchObject({
      kind: 'disk',
      diskFormat: 'qcow2',
      url: 'file:///cache/guest/guest.qcow2',
      sha256: 'e'.repeat(64),
    });
    expect(catalog.get(TEST_GUEST_VERSIONS.cloudInit)).toMatchObject({
      kind: 'kernel',
      context: 'cloud-init',
    });
  });

  it('ships its build script in the package, beside dist/', () => {
    expect(existsSync(BUILD_SCRIPT)).toBe(true);
    expect(BUILD_SCRIPT).toMatch(/packages\/test-guest\/guest\/build-test-guest\.sh$/);
  });
});

// The guest API's CGI, run by the busybox the guest is built from, with its paths moved to a temporary directory.
describe.skipIf(!existsSync('/bin/busybox'))('the guest API CGI (busybox)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cvmweb-guest-cgi-'));
    const cgi = await readFile(new URL('../guest/cgi-bin/cvmweb-guest', import.meta.url), 'utf8');
    await writeFile(
      join(dir, 'cvmweb-guest'),
      cgi
        .replaceAll('/www/', `${dir}/`)
        .replaceAll('/tmp/spin', `${dir}/spin`)
        .replaceAll('/tmp/keys', `${dir}/keys`),
    );
    await writeFile(join(dir, 'context-format'), 'cloud-init\n');
    await writeFile(join(dir, 'context-device'), '/dev/sr0\n');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const report = async (userData: string, keys = '') => {
    await writeFile(join(dir, 'user-data'), userData);
    await writeFile(join(dir, 'keys'), keys);
    const { stdout } = await execa('/bin/busybox', ['sh', join(dir, 'cvmweb-guest')], {
      env: { LC_ALL: 'C' },
    });
    const [head = '', body = ''] = stdout.split('\r\n\r\n');
    expect(head).toBe('Content-Type: application/json');
    return parseGuestReport(body);
  };

  it.each([
    ['empty', ''],
    ['without a final newline', 'no newline'],
    ['lines', 'a\nb\n'],
    ['a lone x', 'x'],
    [
      'quotes, backslashes, CR LF, tabs, UTF-8 and shell syntax',
      `users=a:b:c\n'single' "double" <tag> & $(touch /tmp/pwned) \`id\`; rm -rf / | \\n\r\n\u00e9\u4e2d\ttab%s\n`,
    ],
  ])('reports user data %s exactly, as JSON', async (_what, userData) => {
    const got = await report(userData);
    expect(got).toMatchObject({ userData, context: { format: 'cloud-init', source: '/dev/sr0' }, spin: 0 });
    expect(got?.bootId).toMatch(/^[0-9a-f-]{36}$/);
    expect(got?.uptimeMs).toBeGreaterThan(0);
  });

  it.each([
    ['none', '', ''],
    ['a line', 'hi\n', 'hi\n'],
    ['quotes, backslashes, tabs and CR', 'a"b\\c\td\r', 'a"b\\c\td\r'],
    ['DEL (backspace) and other control characters, dropped', 'ab\x7fc\x01\x1b\n', 'abc\n'],
  ])('reports the keys typed on the screen: %s', async (_what, typed, keys) => {
    expect(await report('', typed)).toMatchObject({ keys, userData: '' });
  });
});
