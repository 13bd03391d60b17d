import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ResolvedImage, VmSpec } from '@cvmweb/core';
import { type ProcessRunner, processResult, reservedLoopbackPorts } from '@cvmweb/core/node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KvmHypervisor } from './kvm-hypervisor.js';
import { StoragePool } from './storage-pool.js';
import { Virsh } from './virsh.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cvmweb-kvm-hv-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A libvirt with a running pool whose base volumes exist, where `vol-path` fails. */
function fakeRunner(kernelBytes: number, calls: string[]): ProcessRunner {
  return {
    run: async (file, args) => {
      const command = args.slice(2);
      calls.push(command.join(' '));
      const ok = (stdout: string) => processResult(file, args, { stdout });
      switch (command[0]) {
        case 'pool-info':
          return ok('Name: cvmweb\nState: running\n');
        case 'list':
          return ok('\n');
        case 'vol-info':
          return ok(`Name: v\nCapacity: ${kernelBytes}\n`);
        default:
          return processResult(file, args, {
            stderr: `error: injected failure of ${command[0]}\n`,
            exitCode: 1,
          });
      }
    },
    spawn: () => {
      throw new Error('no persistent channel in this test');
    },
  };
}

describe('KvmHypervisor.createVm', () => {
  it('releases the reserved API port when a step before the define fails (pool.path)', async () => {
    const kernel = join(dir, 'vmlinux');
    await writeFile(kernel, 'kernel bytes');
    const calls: string[] = [];
    const virsh = new Virsh(fakeRunner(12, calls), {
      virsh: 'virsh',
      uri: 'qemu:///system',
      channel: false,
      timeoutMs: 1000,
    });
    const hypervisor = new KvmHypervisor({
      virsh,
      pool: new StoragePool(virsh, 'cvmweb', '/nowhere'),
      executionCap: true,
      shutdownTimeoutMs: 1000,
      version: 'test',
      virtType: 'qemu',
      installationId: 'test',
    });
    const image: ResolvedImage = { kind: 'kernel', path: kernel, sha256: 'a'.repeat(64) } as ResolvedImage;
    const spec = {
      name: 'cvmweb-leak-000000000000',
      sessionId: 'leak',
      cpus: 1,
      ram: 128,
      disk: 0,
      executionCap: 100,
      directory: dir,
      image: { resolve: async () => image },
    } as unknown as VmSpec;
    const before = reservedLoopbackPorts();
    await expect(hypervisor.createVm(spec)).rejects.toMatchObject({
      message: expect.stringMatching(/vol-path/),
    });
    expect(calls.some((c) => c.startsWith('vol-path'))).toBe(true);
    expect(calls.some((c) => c.startsWith('define'))).toBe(false);
    expect(reservedLoopbackPorts()).toEqual(before);
  });
});
