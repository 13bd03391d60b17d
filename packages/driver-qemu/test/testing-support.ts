// Test helpers of the QEMU driver's real-QEMU tests (test-only: not part of the package).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ImageCache, ImageCatalog } from '@cvmweb/core';
import { inject } from 'vitest';
import { vmPaths } from '../src/vm-directory.js';

export { qemuProcesses } from '@cvmweb/core/node';

/** Why real-QEMU tests cannot run here, or `undefined`. */
export function qemuUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'real-QEMU tests run on Linux';
  for (const program of ['qemu-system-x86_64', 'qemu-img']) {
    if (spawnSync(program, ['--version']).status !== 0) return `${program} is not installed`;
  }
  return undefined;
}

/**
 * What is left of VM `vmName` under `root`: its folder, any `.creating-` folder, and its socket
 * folder in the temp dir (where a deep `root` puts the sockets).
 */
export async function filesLeft(root: string, vmName: string): Promise<string[]> {
  const names = await readdir(root).catch(() => [] as string[]);
  const left = names
    .filter((name) => name === vmName || name.startsWith('.creating-'))
    .map((name) => join(root, name));
  const { socketDir, dir } = vmPaths(root, vmName);
  if (socketDir !== dir && existsSync(socketDir)) left.push(socketDir);
  return left;
}

/**
 * The test guest that test/real-guest-setup.ts built for vitest's `libvirt` project: its files,
 * catalog, versions and screen (the driver's tests import no cvmweb package but core).
 */
export function testGuest() {
  return inject('testGuest');
}

/** An image cache in `directory` over the test guest's catalog (`file:` URLs, never the network). */
export function testGuestImages(directory: string): ImageCache {
  return new ImageCache({
    directory,
    offline: true,
    catalog: new ImageCatalog(testGuest().catalog, { defaults: [] }),
  });
}
