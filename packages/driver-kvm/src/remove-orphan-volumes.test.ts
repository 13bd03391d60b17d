import { type ProcessRunner, processResult } from '@cvmweb/core/node';
import { describe, expect, it } from 'vitest';
import {
  installationTag,
  legacyVolumeNames,
  ownVolumeName,
  ownVolumeNames,
  parseOwnVolumeName,
} from './own-volume-name.js';
import { removeOrphanVolumes } from './remove-orphan-volumes.js';
import { StoragePool } from './storage-pool.js';
import { Virsh } from './virsh.js';

const ours = installationTag('me');
const theirs = installationTag('someone-else');

describe('own volume names', () => {
  it('carry the VM name and the installation tag, and read back', () => {
    const name = ownVolumeName('cvmweb-demo-0123456789ab', ours, 'context');
    expect(name).toBe(`cvmweb-demo-0123456789ab.${ours}.context.iso`);
    expect(parseOwnVolumeName(name)).toEqual({
      vmName: 'cvmweb-demo-0123456789ab',
      tag: ours,
      kind: 'context',
    });
    for (const other of [
      'cvmweb-base-0123.kernel',
      'cvmweb-x-scratch.qcow2',
      `a.${ours}.scratch.qcow2.complete`,
    ])
      expect(parseOwnVolumeName(other)).toBeUndefined();
    expect(ownVolumeNames('vm', ours)).toContain(`vm.${ours}.overlay.qcow2`);
    expect(legacyVolumeNames('vm')).toEqual(['vm-scratch.qcow2', 'vm-overlay.qcow2', 'vm-context.iso']);
  });
});

describe('removeOrphanVolumes', () => {
  it("deletes only this installation's volumes whose domain is gone", async () => {
    const volumes = [
      ownVolumeName('cvmweb-gone', ours, 'scratch'),
      ownVolumeName('cvmweb-gone', ours, 'context'),
      ownVolumeName('cvmweb-listed', ours, 'scratch'),
      ownVolumeName('cvmweb-defined-since', ours, 'scratch'),
      ownVolumeName('cvmweb-foreign', theirs, 'scratch'),
      'cvmweb-gone-scratch.qcow2',
      'cvmweb-base-0123.kernel',
    ];
    const calls: string[] = [];
    const runner: ProcessRunner = {
      run: async (file, args) => {
        const command = args.slice(2);
        calls.push(command.join(' '));
        if (command[0] === 'vol-list')
          return processResult(file, args, {
            stdout: ` Name Path\n-----\n${volumes.map((v) => ` ${v} /p/${v}`).join('\n')}\n`,
          });
        if (command[0] === 'domuuid' && command[1] === 'cvmweb-gone')
          return processResult(file, args, {
            stderr: "error: failed to get domain 'cvmweb-gone'\n",
            exitCode: 1,
          });
        if (command[0] === 'domuuid')
          return processResult(file, args, { stdout: '00000000-0000-4000-8000-000000000001\n' });
        if (command[0] === 'vol-delete') return processResult(file, args);
        return processResult(file, args, { stderr: `error: unexpected ${command[0]}\n`, exitCode: 1 });
      },
      spawn: () => {
        throw new Error('no persistent channel in this test');
      },
    };
    const virsh = new Virsh(runner, {
      virsh: 'virsh',
      uri: 'qemu:///system',
      channel: false,
      timeoutMs: 1000,
    });
    const removed = await removeOrphanVolumes(
      new StoragePool(virsh, 'cvmweb', '/nowhere'),
      virsh,
      ours,
      new Set(['cvmweb-listed']),
    );
    expect(removed).toEqual([
      ownVolumeName('cvmweb-gone', ours, 'scratch'),
      ownVolumeName('cvmweb-gone', ours, 'context'),
    ]);
    // One query per unlisted VM, none for a listed one; the pool is not rescanned.
    expect(calls.filter((c) => c.startsWith('domuuid'))).toEqual([
      'domuuid cvmweb-gone',
      'domuuid cvmweb-defined-since',
    ]);
    expect(calls.filter((c) => c.startsWith('vol-delete'))).toHaveLength(2);
    expect(calls.some((c) => c.startsWith('pool-refresh'))).toBe(false);
  });
});
