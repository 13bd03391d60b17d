import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

// The single-file `cvmweb` (npm run build:sea) run where no Node.js is on PATH: a PATH of one
// temporary directory holding links to the few tools cvmweb may call, never `node`.
// scripts/test-all.sh builds it and sets CVMWEB_REQUIRE_SEA=1, so CI cannot skip this file;
// elsewhere it runs when the file has been built.
const executable = fileURLToPath(new URL('../build/sea/cvmweb', import.meta.url));
const clientBundle = fileURLToPath(new URL('../../web-bridge/dist/cvmweb.global.js', import.meta.url));
const bridgePackage = fileURLToPath(new URL('../../web-bridge/package.json', import.meta.url));
const examplePlugin = fileURLToPath(new URL('../../../examples/cvmweb-driver-example', import.meta.url));
const required = process.env['CVMWEB_REQUIRE_SEA'] === '1';
const TOOLS = ['virsh', 'loginctl', 'setpriv'];

describe.skipIf(process.platform !== 'linux' || (!required && !existsSync(executable)))(
  'single-file cvmweb without Node.js on PATH',
  () => {
    let dir: string;
    let stateDir: string;
    let env: Record<string, string>;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'cvmweb-sea-'));
      const bin = join(dir, 'bin');
      stateDir = join(dir, 'state');
      await mkdir(bin);
      await mkdir(stateDir);
      for (const tool of TOOLS) {
        const found = ['/usr/bin', '/usr/sbin', '/bin', '/sbin'].map((d) => join(d, tool)).find(existsSync);
        if (found) await symlink(found, join(bin, tool));
      }
      env = { PATH: bin, HOME: dir, CVMWEB_STATE_DIR: stateDir, CVMWEB_CACHE_DIR: join(dir, 'cache') };
    });

    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    const run = (args: string[], more: Record<string, string> = {}) =>
      execa(executable, args, { env: { ...env, ...more }, extendEnv: false, reject: false });

    it('runs where `command -v node` finds nothing', async () => {
      const shell = await execa('/bin/sh', ['-c', 'command -v node'], {
        env,
        extendEnv: false,
        reject: false,
      });
      expect(shell.exitCode).not.toBe(0);
      const version = await run(['--version']);
      expect(version.stderr).toBe('');
      expect(version.stdout).toMatch(/^\d+\.\d+\.\d+$/);
    });

    it('detect --json lists the built-in drivers', async () => {
      const detected = await run(['detect', '--json']);
      expect([0, 3]).toContain(detected.exitCode);
      const names = (JSON.parse(detected.stdout) as { candidates: { name: string }[] }).candidates.map(
        (c) => c.name,
      );
      expect(names.sort()).toEqual(['kvm', 'mock', 'qemu', 'virtualbox']);
      const mock = await run(['detect', '--json', '--driver', 'mock']);
      expect(mock.exitCode).toBe(0);
      expect(JSON.parse(mock.stdout)).toMatchObject({ winner: 'mock' });
    });

    it('loads a driver plug-in (an ES module) from the file system', async () => {
      const detected = await run(['detect', '--json', '--driver', 'example'], {
        CVMWEB_DRIVER_MODULES: examplePlugin,
      });
      expect(detected.stderr).toBe('');
      expect(JSON.parse(detected.stdout)).toMatchObject({ winner: 'example' });
    });

    it('serve answers /info and serves the embedded client, and stops on SIGTERM', async () => {
      const child = execa(executable, ['serve', '--driver', 'mock', '--json', '--port', '0'], {
        env,
        extendEnv: false,
        reject: false,
        buffer: false,
      });
      const started = await firstJsonLine(child);
      const info = await fetch(`${started.url}info`);
      expect(info.status).toBe(200);
      const bridgeVersion = JSON.parse(await readFile(bridgePackage, 'utf8')).version;
      expect(await info.json()).toMatchObject({
        service: 'cvmweb-bridge',
        version: bridgeVersion,
        hypervisorName: 'mock',
      });
      const client = await fetch(`${started.url}cvmweb.js`);
      expect(await client.text()).toBe(await readFile(clientBundle, 'utf8'));
      process.kill(started.pid, 'SIGTERM');
      expect((await child).exitCode).toBe(0);
    });

    it('daemon starts, writes its pid file and stops by its pid', async () => {
      const child = execa(executable, ['daemon'], {
        env: { ...env, CVMWEB_DRIVER: 'mock' },
        extendEnv: false,
        reject: false,
      });
      const pidFile = join(stateDir, 'daemon.pid');
      const pid = await vi.waitFor(
        async () => {
          if (child.exitCode !== null) throw new Error(`cvmweb daemon ended: ${String(child.stderr)}`);
          return Number((await readFile(pidFile, 'utf8')).trim());
        },
        { timeout: 20_000, interval: 50 },
      );
      expect(pid).toBe(child.pid);
      const status = await run(['daemon', 'status', '--json']);
      expect(JSON.parse(status.stdout)).toMatchObject({ running: true, pid });
      process.kill(pid, 'SIGTERM');
      const ended = await child;
      expect(ended.exitCode).toBe(0);
      expect(existsSync(pidFile)).toBe(false);
    });
  },
);

/** The `--json` line `cvmweb serve` prints once it listens. */
function firstJsonLine(child: ResultPromise): Promise<{ url: string; pid: number }> {
  let text = '';
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += String(chunk);
  });
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (chunk) => {
      text += String(chunk);
      const line = text.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line) as { url: string; pid: number });
    });
    child.stdout?.on('end', () => reject(new Error(`cvmweb serve ended before listening: ${stderr}`)));
  });
}
