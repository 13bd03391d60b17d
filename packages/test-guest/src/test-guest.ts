import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HypervisorError } from '@cvmweb/core';
import { createProcessRunner, describeEnding } from '@cvmweb/core/node';

/** The build script, shipped in the package (`guest/`, beside `dist/`), so it works from `node_modules`. */
export const BUILD_SCRIPT = fileURLToPath(new URL('../guest/build-test-guest.sh', import.meta.url));

/** The built test guest's files, in one cache directory. */
export interface TestGuest {
  /** The cache directory holding them. */
  readonly directory: string;
  /** The kernel as an ELF, for direct (PVH) boot. */
  readonly vmlinux: string;
  /** The same kernel as a bzImage. */
  readonly vmlinuz: string;
  /** The busybox initramfs. */
  readonly initrd: string;
  /** A bootable isolinux ISO of kernel and initramfs: boots from a CD-ROM, and as a disk (hybrid). */
  readonly iso: string;
  /** That hybrid image as a qcow2 disk, for hypervisors that boot disks. */
  readonly qcow2: string;
  /** The kernel command line for direct boot. */
  readonly cmdline: string;
  /** The sha256 of each file, by file name (`vmlinux`, `vmlinuz`, `initrd.gz`, `guest.iso`, `guest.qcow2`). */
  readonly sha256: Readonly<Record<string, string>>;
}

/** Options of {@link testGuest}. */
export interface TestGuestOptions {
  /**
   * Where built guests are cached (one directory per kernel, busybox, isolinux and script
   * version). Default: `$CVMWEB_TEST_GUEST_CACHE`, else `${XDG_CACHE_HOME:-~/.cache}/cvmweb-test-guest`.
   */
  cacheDirectory?: string;
  /** Stops the build. */
  signal?: AbortSignal;
}

/** How long a build may take: it downloads a Debian kernel package. */
const BUILD_TIMEOUT_MS = 10 * 60_000;

const builds = new Map<string, Promise<TestGuest>>();

/**
 * Builds the cvmweb test guest from Debian packages (the kernel `linux-image-amd64` by
 * `apt-get download`, the installed `busybox-static` and `isolinux`, `xorriso` and `qemu-img`), or
 * finds it in the cache,
 * and resolves with its files. One build per cache directory and process.
 *
 * @throws HypervisorError `EXTERNAL` when the build fails (the message names the missing tool
 *   or package and how to install it).
 */
export function testGuest(options: TestGuestOptions = {}): Promise<TestGuest> {
  const key = options.cacheDirectory ?? '';
  let build = builds.get(key);
  if (!build) {
    build = buildGuest(options);
    builds.set(key, build);
    build.catch(() => builds.delete(key));
  }
  return build;
}

async function buildGuest(options: TestGuestOptions): Promise<TestGuest> {
  // An abort rejects with core's aborted CONTROL error; any other ending is read below.
  const result = await createProcessRunner().run('bash', [BUILD_SCRIPT], {
    reject: false,
    timeoutMs: BUILD_TIMEOUT_MS,
    signal: options.signal,
    env: options.cacheDirectory ? { CVMWEB_TEST_GUEST_CACHE: options.cacheDirectory } : {},
  });
  const directory = result.stdout.trim().split('\n').at(-1) ?? '';
  if (result.exitCode !== 0 || directory === '') {
    const reason = result.stderr.trim().split('\n').at(-1) ?? '';
    throw new HypervisorError(
      'EXTERNAL',
      `cannot build the cvmweb test guest: ${reason || describeEnding(result)}`,
      {
        details: { script: BUILD_SCRIPT, exitCode: result.exitCode ?? null },
        cause: result,
      },
    );
  }
  const sha256: Record<string, string> = {};
  for (const line of (await readFile(join(directory, 'SHA256SUMS'), 'utf8')).split('\n')) {
    const [sum, name] = line.trim().split(/\s+/);
    if (sum && name) sha256[name] = sum;
  }
  return {
    directory,
    vmlinux: join(directory, 'vmlinux'),
    vmlinuz: join(directory, 'vmlinuz'),
    initrd: join(directory, 'initrd.gz'),
    iso: join(directory, 'guest.iso'),
    qcow2: join(directory, 'guest.qcow2'),
    cmdline: (await readFile(join(directory, 'cmdline'), 'utf8')).trim(),
    sha256,
  };
}
