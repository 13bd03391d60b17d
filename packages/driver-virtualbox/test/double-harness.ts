import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ImageCache, ImageCatalog, type ImageSource, type StartSpec, type VmSpec } from '@cvmweb/core';
import { createProcessRunner, isProcessAlive, writeIso9660 } from '@cvmweb/core/node';
import { type VirtualBoxOptions, virtualbox } from '../src/virtualbox.js';

/** The VBoxManage double, runnable as is. */
export const DOUBLE = fileURLToPath(new URL('./vboxmanage-double.mjs', import.meta.url));

/** The catalog version the tests boot. */
export const TEST_VERSION = 'double-1';

interface DoubleVm {
  uuid: string;
  name: string;
  state: string;
  serverPid: number | null;
  natpf: Array<{ name: string; hostport: number }>;
  cfgFile: string;
  attachments: Record<string, { uuid: string | null; location: string }>;
}
interface DoubleRegistry {
  calls: number;
  vms: DoubleVm[];
  media: Array<{ uuid: string; location: string; kind: string }>;
}

/** The double's registry in `home`. */
export async function readDouble(home: string): Promise<DoubleRegistry> {
  try {
    return JSON.parse(await readFile(path.join(home, 'vboxmanage-double.json'), 'utf8')) as DoubleRegistry;
  } catch {
    return { calls: 0, vms: [], media: [] };
  }
}

/** A fresh `VBOX_USER_HOME` with a tiny boot ISO. */
export async function makeHome(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'cvmweb-vbox-'));
}

/** Kills every API server the double started in `home` and removes it. */
export async function removeHome(home: string): Promise<void> {
  for (const vm of (await readDouble(home)).vms) {
    if (vm.serverPid) {
      try {
        process.kill(vm.serverPid, 'SIGKILL');
      } catch {}
    }
  }
  await rm(home, { recursive: true, force: true });
}

/** What the driver left of `vmName` in `home`: registered VMs, media, port rules, files, servers. */
export async function leftovers(home: string, vmName: string): Promise<string[]> {
  const registry = await readDouble(home);
  const found: string[] = [];
  for (const vm of registry.vms.filter((v) => v.name === vmName)) {
    found.push(`vm ${vm.uuid}`);
    for (const rule of vm.natpf) found.push(`port rule ${rule.name} ${rule.hostport}`);
    if (vm.serverPid && isProcessAlive(vm.serverPid)) found.push(`api server ${vm.serverPid}`);
  }
  for (const medium of registry.media) {
    if (medium.location.includes(vmName)) found.push(`medium ${medium.location}`);
  }
  const folder = path.join(home, 'cvmweb', 'cvmweb', vmName);
  if (existsSync(folder)) found.push(`folder ${folder}: ${(await readdir(folder)).join(', ')}`);
  return found;
}

/** What still runs `vmName` in `home`: the VM itself (running or paused) and its API server process. */
export async function running(home: string, vmName: string): Promise<string[]> {
  const found: string[] = [];
  for (const vm of (await readDouble(home)).vms.filter((v) => v.name === vmName)) {
    if (vm.state === 'running' || vm.state === 'paused') found.push(`vm ${vm.uuid} ${vm.state}`);
    if (vm.serverPid && isProcessAlive(vm.serverPid)) found.push(`api server ${vm.serverPid}`);
  }
  return found;
}

/** A tiny real ISO 9660 image as the boot image, with its sha256. */
export async function tinyIso(dir: string): Promise<{ path: string; sha256: string }> {
  const file = path.join(dir, 'boot.iso');
  const image = writeIso9660({
    volumeId: 'CVMWEB_TEST',
    files: [{ name: 'readme.txt', data: 'test image\n' }],
  });
  await writeFile(file, image);
  return { path: file, sha256: createHash('sha256').update(image).digest('hex') };
}

/** An image cache whose catalog serves the tiny ISO as {@link TEST_VERSION} from a `file:` URL. */
export async function testImages(dir: string): Promise<ImageCache> {
  const iso = await tinyIso(dir);
  return new ImageCache({
    directory: path.join(dir, 'image-cache'),
    offline: true,
    catalog: new ImageCatalog([
      {
        version: TEST_VERSION,
        url: pathToFileURL(iso.path).href,
        sha256: iso.sha256,
        kind: 'iso',
        context: 'cernvm',
      },
    ]),
  });
}

/** The driver on the double in `home`; `env` is live, so tests may flip fault switches. */
export function doubleDriver(
  home: string,
  env: Record<string, string | undefined> = {},
  options: Partial<VirtualBoxOptions> = {},
) {
  env['VBOX_USER_HOME'] = home;
  return virtualbox({
    vboxManagePath: DOUBLE,
    env,
    stopTimeoutMs: 3000,
    stopPollMs: 50,
    lockRetry: { attempts: 2, delayMs: 20 },
    ...options,
  });
}

/** An image source over a local ISO, for direct driver tests. */
export function isoSource(file: string, sha256 = '0'.repeat(64)): ImageSource {
  return {
    version: TEST_VERSION,
    context: 'cernvm',
    resolve: async () => ({ version: TEST_VERSION, kind: 'iso', path: file, sha256, context: 'cernvm' }),
  };
}

/** A VM spec for direct driver tests. */
export function vmSpec(home: string, iso: string, overrides: Partial<VmSpec> = {}): VmSpec {
  return {
    sessionId: '6f1c1e9a-3f7e-4a8e-9b1a-0c2d3e4f5a6b',
    name: 'cvmweb-test-0123456789ab',
    cpus: 1,
    ram: 256,
    disk: 64,
    executionCap: 100,
    image: isoSource(iso),
    directory: path.join(home, 'session'),
    ...overrides,
  };
}

/** A start spec with a context ISO written at `file`. */
export async function startSpec(file: string, userData = 'hello'): Promise<StartSpec> {
  await writeFile(
    file,
    writeIso9660({ volumeId: 'CONTEXT_INFO', files: [{ name: 'context.sh', data: userData }] }),
  );
  return { userData, context: { format: 'cernvm', path: file, size: 2048 } };
}

/** Runs the double itself (as another program would) in `home`. */
export function runDouble(home: string, argv: string[], env: Record<string, string | undefined> = {}) {
  return createProcessRunner({ env: { ...env, VBOX_USER_HOME: home } }).run(DOUBLE, argv, { reject: false });
}

/**
 * The versions the double is held to, one per line of the README's matrix, with the version
 * strings their packages print.
 */
export const MATRIX_VERSIONS = [
  '6.1.50_Ubuntur161033',
  '7.0.14r161095',
  '7.1.4r165100',
  '7.2.4r170995',
] as const;
