import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { probeCpuCap, readSelfCgroup } from './cgroup-cpu-cap.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/**
 * A temp dir standing in for a cgroup v2 mount: the root, and the service's cgroup `own` below it
 * with `controllers` offered and `procs` as its processes (real files, as cgroupfs shows them).
 */
async function fakeCgroup2(own: string, controllers: string, procs: string[]): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'cvmweb-cgroup2-'));
  dirs.push(root);
  await writeFile(join(root, 'cgroup.controllers'), 'cpuset cpu io memory pids\n');
  const dir = join(root, own);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'cgroup.controllers'), `${controllers}\n`);
  await writeFile(join(dir, 'cgroup.subtree_control'), '');
  await writeFile(join(dir, 'cgroup.procs'), procs.map((p) => `${p}\n`).join(''));
  return root;
}

describe('execution cap through cgroup v2 cpu.max', () => {
  it('caps a QEMU pid in a child cgroup of the service: cpu.max "<quota> 100000", the pid in cgroup.procs', async () => {
    const own = '/user.slice/user-1000.slice/user@1000.service/app.slice/cvmweb.service';
    const root = await fakeCgroup2(own, 'cpu memory pids', ['4242']);
    const support = await probeCpuCap({ root, selfCgroup: `0::${own}\n`, platform: 'linux' });
    if (!support.supported) throw new Error(support.reason);
    const service = join(root, own);
    expect(support.cgroup.dir).toBe(service);

    await support.cgroup.apply('cvmweb-a-1', 31337, 20, 2); // 20 % of a host CPU per vCPU, 2 vCPUs
    const vm = join(service, 'cvmweb-cvmweb-a-1');
    expect(await readFile(join(vm, 'cpu.max'), 'utf8')).toBe('40000 100000\n');
    expect(await readFile(join(vm, 'cgroup.procs'), 'utf8')).toBe('31337\n');
    // cgroup v2 gives child cgroups a controller only from a cgroup without processes: the
    // service moved into its leaf first, then enabled cpu.
    expect(await readFile(join(service, 'cvmweb-service', 'cgroup.procs'), 'utf8')).toBe('4242\n');
    expect(await readFile(join(service, 'cgroup.subtree_control'), 'utf8')).toBe('+cpu\n');

    await support.cgroup.apply('cvmweb-a-1', 31337, 100, 2);
    expect(await readFile(join(vm, 'cpu.max'), 'utf8')).toBe('max 100000\n');
    expect(await readFile(join(service, 'cgroup.subtree_control'), 'utf8')).toBe('+cpu\n'); // once
    await rm(join(vm, 'cpu.max')); // cgroupfs folders empty themselves; real files do not
    await rm(join(vm, 'cgroup.procs'));
    await support.cgroup.remove('cvmweb-a-1');
    await expect(stat(vm)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('says precisely why not: no cpu controller delegated, no cgroup v2 line, macOS, Windows', async () => {
    const root = await fakeCgroup2('/session-2.scope', 'memory pids', []);
    const noCpu = await probeCpuCap({ root, selfCgroup: '0::/session-2.scope\n', platform: 'linux' });
    expect(noCpu).toMatchObject({
      supported: false,
      reason: expect.stringMatching(/cpu controller is not delegated.*Delegate=yes/),
    });
    const noLine = await probeCpuCap({ root, selfCgroup: '1:name=systemd:/\n', platform: 'linux' });
    expect(noLine).toMatchObject({ supported: false, reason: expect.stringMatching(/no cgroup v2 group/) });
    const mac = await probeCpuCap({ root, selfCgroup: '', platform: 'darwin' });
    expect(mac).toMatchObject({ supported: false, reason: expect.stringMatching(/^macOS/) });
    const windows = await probeCpuCap({ root, selfCgroup: '', platform: 'win32' });
    expect(windows).toMatchObject({ supported: false, reason: expect.stringMatching(/Windows/) });
  });

  it("this machine's cgroups, for real: v1 says so; v2 is decided from the service's own cgroup", async () => {
    const type = (await execa('stat', ['-fc', '%T', '/sys/fs/cgroup'], { reject: false })).stdout.trim();
    const support = await probeCpuCap({
      root: '/sys/fs/cgroup',
      selfCgroup: await readSelfCgroup(),
      platform: process.platform,
    });
    if (type === 'cgroup2fs') {
      if (!support.supported) expect(support.reason).not.toMatch(/cgroup v1/);
    } else {
      expect(support).toMatchObject({ supported: false, reason: expect.stringMatching(/is cgroup v1/) });
    }
  });
});
