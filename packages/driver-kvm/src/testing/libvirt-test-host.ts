import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createProcessRunner, describeEnding } from '@cvmweb/core/node';
import { METADATA_NAMESPACE } from '../vm-metadata.js';

/** Runs the tests' own virsh commands (core's process runner: no shell, `LC_ALL=C`). */
const runner = createProcessRunner();

/**
 * The repository root, for `scripts/setup-libvirt.sh` ({@link restartLibvirtd}): the nearest
 * folder above this module that holds that script (only in a checkout of the cvmweb repository,
 * not from `node_modules`, where it is the file system's root).
 */
export const REPO = findRepo(dirname(fileURLToPath(import.meta.url)));

function findRepo(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'scripts', 'setup-libvirt.sh'))) return dir;
    if (dirname(dir) === dir) return dir;
  }
}
/** The URI the tests use. */
export const TEST_URI = process.env['CVMWEB_KVM_TEST_URI'] ?? 'qemu:///system';
/** The pool the tests use (kept apart from a developer's `cvmweb` pool). */
export const TEST_POOL = 'cvmweb-test';
/** The test pool's directory. */
export const TEST_POOL_PATH = '/var/lib/libvirt/images/cvmweb-test';

/** Why the real-libvirt tests cannot run here, or `undefined` when they can. */
export async function libvirtUnavailable(): Promise<string | undefined> {
  if (process.env['CVMWEB_KVM_TESTS'] === '0') return 'CVMWEB_KVM_TESTS=0';
  const version = await runner.run('virsh', ['-c', TEST_URI, 'version'], {
    reject: false,
    timeoutMs: 10_000,
  });
  if (version.exitCode !== 0) {
    return `libvirt does not answer at ${TEST_URI} (run: npm run setup:libvirt): ${
      version.stderr.trim() || describeEnding(version)
    }`;
  }
  return undefined;
}

/** Runs virsh at the test URI and returns its standard output ('' on failure). */
export async function virshOut(args: string[]): Promise<string> {
  const result = await runner.run('virsh', ['-c', TEST_URI, ...args], { reject: false, timeoutMs: 60_000 });
  return result.exitCode === 0 ? result.stdout : '';
}

/**
 * The CPU time, in ms, the host has given the virtual CPUs of the running domain `vmName` so far
 * (libvirt's accounting of its vCPU threads, `virsh domstats --vcpu`: what an execution cap, a
 * `vcpu_quota`, limits); `NaN` when libvirt reports none (the domain is not running).
 */
export async function vcpuTimeMs(vmName: string): Promise<number> {
  const stats = await virshOut(['domstats', '--vcpu', vmName]);
  const times = [...stats.matchAll(/^\s*vcpu\.\d+\.time=(\d+)\s*$/gm)].map((m) => Number(m[1]) / 1e6);
  return times.length === 0 ? Number.NaN : times.reduce((sum, t) => sum + t, 0);
}

/** Domains (any state) and test-pool volumes whose names start with `vmName` (a VM name or a prefix). */
export async function leftovers(vmName: string): Promise<string[]> {
  await virshOut(['pool-refresh', TEST_POOL]);
  const domains = (await virshOut(['list', '--all', '--name'])).split('\n').map((l) => l.trim());
  const volumes = (await virshOut(['vol-list', TEST_POOL]))
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '');
  return [...domains, ...volumes].filter((name) => name !== '' && name.startsWith(vmName));
}

/**
 * Removes cvmweb domains (and their volumes) left on the test URI by an earlier, interrupted run
 * whose VM names start with one of `prefixes` (VM names derive from session names, so a leftover
 * would collide with this run's).
 */
export async function purgeLeftovers(prefixes: readonly string[]): Promise<void> {
  for (const prefix of prefixes) await purgeVms(`cvmweb-${prefix}-`);
}

/**
 * Removes the cvmweb domains (those with cvmweb's metadata, of any installation) whose names
 * start with `vmPrefix`, and the test pool's volumes whose names start with it.
 */
export async function purgeVms(vmPrefix: string): Promise<void> {
  const names = (await virshOut(['list', '--all', '--name'])).split('\n').map((l) => l.trim());
  for (const name of names) {
    if (name === '' || !name.startsWith(vmPrefix)) continue;
    if (!(await virshOut(['metadata', name, '--uri', METADATA_NAMESPACE, '--config']))) continue;
    await virshOut(['destroy', name]);
    await virshOut(['undefine', name, '--managed-save']);
  }
  await virshOut(['pool-refresh', TEST_POOL]);
  const volumes = (await virshOut(['vol-list', TEST_POOL]))
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '');
  for (const volume of volumes) {
    if (volume !== '' && volume.startsWith(vmPrefix))
      await virshOut(['vol-delete', '--pool', TEST_POOL, volume]);
  }
}

/** `virsh domstate` of `domain` ('running', 'paused', 'shut off', …), or '' when there is no such domain. */
export async function domState(domain: string): Promise<string> {
  return (await virshOut(['domstate', domain])).trim();
}
