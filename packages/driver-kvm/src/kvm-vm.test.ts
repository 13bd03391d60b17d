import { type ProcessRunner, processResult } from '@cvmweb/core/node';
import { describe, expect, it } from 'vitest';
import { KvmVm } from './kvm-vm.js';
import { StoragePool } from './storage-pool.js';
import { Virsh } from './virsh.js';

/** A runner whose virsh prints `domstate` for every `domstate` call. */
function fakeRunner(domstate: string): ProcessRunner {
  return {
    run: async (file, args) =>
      processResult(
        file,
        args,
        args.includes('domstate')
          ? { stdout: `${domstate}\n\n` }
          : { stderr: 'error: unexpected command', exitCode: 1 },
      ),
    spawn: () => {
      throw new Error('no persistent channel in this test');
    },
  };
}

function vmWith(domstate: string, debug: string[]): KvmVm {
  const virsh = new Virsh(fakeRunner(domstate), {
    virsh: 'virsh',
    uri: 'qemu:///system',
    channel: false,
    timeoutMs: 1000,
  });
  return new KvmVm(
    {
      virsh,
      installationId: 'test',
      pool: new StoragePool(virsh, 'cvmweb', '/nowhere'),
      executionCap: true,
      shutdownTimeoutMs: 1000,
      onDebug: (line) => debug.push(line),
    },
    '00000000-0000-4000-8000-000000000000',
    'cvmweb-x-000000000000',
    0,
  );
}

describe('KvmVm.state', () => {
  it("reports a state cvmweb does not know as 'error', with libvirt's words in a debug line", async () => {
    for (const raw of ['crashed (panicked)', 'no state', 'something new (why)']) {
      const debug: string[] = [];
      expect(await vmWith(raw, debug).state()).toBe('error');
      expect(debug).toEqual([`cvmweb-x-000000000000: libvirt reports state '${raw}', taken as 'error'`]);
    }
  });

  it('says nothing about the states it knows', async () => {
    const debug: string[] = [];
    expect(await vmWith('running (booted)', debug).state()).toBe('running');
    expect(await vmWith('paused (user)', debug).state()).toBe('paused');
    expect(debug).toEqual([]);
  });
});
