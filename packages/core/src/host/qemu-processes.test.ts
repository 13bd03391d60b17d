import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { qemuProcesses } from './qemu-processes.js';

const children: ReturnType<typeof spawn>[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

/** A process whose command line carries `-name <value>` as QEMU's does (it just waits for stdin). */
function fakeQemu(nameValue: string) {
  const child = spawn(process.execPath, ['-e', 'process.stdin.resume()', '--', '-name', nameValue], {
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  children.push(child);
  return child;
}

describe.skipIf(process.platform !== 'linux')('qemuProcesses', () => {
  it('finds processes by -name guest=<vm>, alone or followed by libvirt’s options, and no other VM’s', async () => {
    const vm = `cvmweb-test-${randomUUID()}`;
    const direct = fakeQemu(`guest=${vm}`);
    const libvirt = fakeQemu(`guest=${vm},debug-threads=on`);
    fakeQemu(`guest=${vm}-other`);
    await expect.poll(() => qemuProcesses(vm)).toHaveLength(2);
    expect((await qemuProcesses(vm)).sort()).toEqual(
      [`qemu pid ${direct.pid}`, `qemu pid ${libvirt.pid}`].sort(),
    );
    direct.kill('SIGKILL');
    await expect.poll(() => qemuProcesses(vm)).toEqual([`qemu pid ${libvirt.pid}`]);
  });

  it('finds nothing for a VM that does not run', async () => {
    expect(await qemuProcesses(`cvmweb-test-${randomUUID()}`)).toEqual([]);
  });
});
