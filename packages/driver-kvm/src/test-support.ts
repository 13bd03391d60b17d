// Helpers of the real-libvirt tests (not exported by the package).
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ImageCache, ImageCatalog, type ImageEntry } from '@cvmweb/core';
import { execa } from 'execa';

/** The repository root. */
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
/** The URI the tests use. */
export const TEST_URI = process.env['CVMWEB_KVM_TEST_URI'] ?? 'qemu:///system';
/** The pool the tests use (kept apart from a developer's `cvmweb` pool). */
export const TEST_POOL = 'cvmweb-test';
/** The test pool's directory. */
export const TEST_POOL_PATH = '/var/lib/libvirt/images/cvmweb-test';

/** Why the real-libvirt tests cannot run here, or `undefined` when they can. */
export async function libvirtUnavailable(): Promise<string | undefined> {
  if (process.env['CVMWEB_KVM_TESTS'] === '0') return 'CVMWEB_KVM_TESTS=0';
  const version = await execa('virsh', ['-c', TEST_URI, 'version'], {
    reject: false,
    timeout: 10_000,
    env: { LC_ALL: 'C' },
  }).catch((error: unknown) => ({ exitCode: 1, stderr: String(error) }));
  if (version.exitCode !== 0) {
    return `libvirt does not answer at ${TEST_URI} (run: npm run setup:libvirt): ${String(version.stderr).trim()}`;
  }
  return undefined;
}

/** The test guest's files (built by scripts/build-test-guest.sh, cached between runs). */
export interface TestGuest {
  readonly directory: string;
  readonly vmlinux: string;
  readonly initrd: string;
  readonly iso: string;
  readonly cmdline: string;
  readonly sha256: Readonly<Record<string, string>>;
}

let guest: Promise<TestGuest> | undefined;

/** Builds (or finds in the cache) the test guest. */
export function testGuest(): Promise<TestGuest> {
  guest ??= (async () => {
    const { stdout } = await execa('bash', [join(REPO, 'scripts/build-test-guest.sh')], {
      timeout: 10 * 60_000,
    });
    const directory = stdout.trim().split('\n').at(-1) ?? '';
    const sums: Record<string, string> = {};
    for (const line of (await readFile(join(directory, 'SHA256SUMS'), 'utf8')).split('\n')) {
      const [sum, name] = line.trim().split(/\s+/);
      if (sum && name) sums[name] = sum;
    }
    return {
      directory,
      vmlinux: join(directory, 'vmlinux'),
      initrd: join(directory, 'initrd.gz'),
      iso: join(directory, 'guest.iso'),
      cmdline: (await readFile(join(directory, 'cmdline'), 'utf8')).trim(),
      sha256: sums,
    };
  })();
  return guest;
}

/** A loopback HTTP server of files, as a CernVM release server would serve them. */
export class FileServer {
  readonly #server: Server;
  readonly #files = new Map<string, string>();
  #base = '';

  constructor() {
    this.#server = createServer((request, response) => {
      const file = this.#files.get(new URL(request.url ?? '/', 'http://x').pathname);
      if (!file) {
        response.writeHead(404).end();
        return;
      }
      void stat(file).then((info) => {
        response.writeHead(200, { 'content-length': info.size });
        createReadStream(file).pipe(response);
      });
    });
  }

  /** Serves `file` at `path`; returns its URL. */
  serve(path: string, file: string): string {
    this.#files.set(path, file);
    return `${this.#base}${path}`;
  }

  async start(): Promise<this> {
    await new Promise<void>((done) => this.#server.listen(0, '127.0.0.1', done));
    this.#base = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((done) => this.#server.close(() => done()));
  }
}

/** Catalog entries of the test guest: `test-kernel` (direct boot) and `test-iso` (CernVM-style CD-ROM). */
export function guestEntries(server: FileServer, g: TestGuest): ImageEntry[] {
  return [
    {
      version: 'test-kernel',
      kind: 'kernel',
      context: 'cernvm',
      url: server.serve('/vmlinux', g.vmlinux),
      sha256: g.sha256['vmlinux'] ?? '',
      initrdUrl: server.serve('/initrd.gz', g.initrd),
      initrdSha256: g.sha256['initrd.gz'] ?? '',
      cmdline: g.cmdline,
    },
    {
      version: 'test-iso',
      kind: 'iso',
      context: 'cernvm',
      url: server.serve('/guest.iso', g.iso),
      sha256: g.sha256['guest.iso'] ?? '',
    },
    {
      version: 'test-cloud-init',
      kind: 'kernel',
      context: 'cloud-init',
      url: server.serve('/vmlinux', g.vmlinux),
      sha256: g.sha256['vmlinux'] ?? '',
      initrdUrl: server.serve('/initrd.gz', g.initrd),
      initrdSha256: g.sha256['initrd.gz'] ?? '',
      cmdline: g.cmdline,
    },
  ];
}

/** An image cache over the test guest's entries. */
export function guestCache(directory: string, entries: ImageEntry[]): ImageCache {
  return new ImageCache({ directory, catalog: new ImageCatalog(entries, { defaults: [] }) });
}

/** Runs virsh at the test URI and returns its standard output ('' on failure). */
export async function virshOut(args: string[]): Promise<string> {
  const result = await execa('virsh', ['-c', TEST_URI, ...args], {
    reject: false,
    env: { LC_ALL: 'C' },
    timeout: 60_000,
  });
  return result.exitCode === 0 ? String(result.stdout) : '';
}

/** Domains and volumes of the test URI whose names start with `vmName`. */
export async function leftovers(vmName: string): Promise<string[]> {
  const domains = (await virshOut(['list', '--all', '--name'])).split('\n').map((l) => l.trim());
  const volumes = (await virshOut(['vol-list', TEST_POOL]))
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '');
  return [...domains, ...volumes].filter((name) => name !== '' && name.startsWith(vmName));
}

/** Reads `path` from the guest's API (HTTP GET), or `undefined` when it does not answer. */
export async function guestGet(port: number, path: string, timeoutMs = 3000): Promise<string | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    return response.ok ? await response.text() : undefined;
  } catch {
    return undefined;
  }
}

/** Polls {@link guestGet} until it answers or `timeoutMs` passes. */
export async function waitForGuest(port: number, path: string, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const body = await guestGet(port, path);
    if (body !== undefined) return body;
    if (Date.now() > deadline)
      throw new Error(`guest on port ${port} did not answer ${path} within ${timeoutMs} ms`);
    await new Promise((done) => setTimeout(done, 200));
  }
}

/**
 * Removes cvmweb domains (and their volumes) left on the test URI by an earlier, interrupted run
 * whose VM names start with one of `prefixes` (VM names derive from session names, so a leftover
 * would collide with this run's).
 */
export async function purgeLeftovers(prefixes: readonly string[]): Promise<void> {
  const names = (await virshOut(['list', '--all', '--name'])).split('\n').map((l) => l.trim());
  for (const name of names) {
    if (!prefixes.some((prefix) => name.startsWith(`cvmweb-${prefix}-`))) continue;
    if (
      !(await virshOut([
        'metadata',
        name,
        '--uri',
        'https://cvmweb.github.io/xmlns/libvirt-domain/1',
        '--config',
      ]))
    )
      continue;
    await virshOut(['destroy', name]);
    await virshOut(['undefine', name, '--managed-save']);
  }
  const volumes = (await virshOut(['vol-list', TEST_POOL]))
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '');
  for (const volume of volumes) {
    if (prefixes.some((prefix) => volume.startsWith(`cvmweb-${prefix}-`)))
      await virshOut(['vol-delete', '--pool', TEST_POOL, volume]);
  }
}
