import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { releaseLoopbackPort, reserveFreeLoopbackPort } from '@cvmweb/core/node';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseExecStart } from './systemd-unit.js';

// The real `cvmweb` (built by `npm run build`) installs its unit in a temporary HOME. No systemd runs
// here, so the test does what the user manager would: it runs the unit's ExecStart command line.
const bin = fileURLToPath(new URL('../../dist/bin.js', import.meta.url));

describe('cvmweb service install on Linux, for real', () => {
  let home: string;
  let port: number;
  const started: number[] = [];
  beforeEach(async () => {
    home = await mkdtemp(join(tmpdir(), 'cvmweb-unit-home-'));
    port = await reserveFreeLoopbackPort();
  });
  afterEach(async () => {
    for (const pid of started.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    releaseLoopbackPort(port);
    await rm(home, { recursive: true, force: true });
  });

  const env = () => ({
    HOME: home,
    PATH: `${dirname(process.execPath)}:/usr/bin:/bin`,
    XDG_RUNTIME_DIR: home,
  });
  function cvmweb(args: string[]) {
    return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [bin, ...args], { env: env(), encoding: 'utf8' }, (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
      );
    });
  }

  it('writes a unit systemd-analyze accepts, whose ExecStart serves /info; status sees it; uninstall leaves no file', async () => {
    const stateDir = join(home, 'state dir %h');
    const installed = await cvmweb([
      'service',
      'install',
      '--port',
      String(port),
      '--driver',
      'mock',
      '--state-dir',
      stateDir,
    ]);
    // No user manager answers here: the unit is written, not enabled, and the command says how to finish.
    expect(installed.code).toBe(5);
    expect(installed.stderr).toContain('Fix: On a system run by systemd');
    const unit = join(home, '.config/systemd/user/cvmweb.service');
    const verified = await new Promise<{ code: number; stderr: string }>((resolve) =>
      execFile('systemd-analyze', ['--user', 'verify', unit], { env: env() }, (error, _out, stderr) =>
        resolve({ code: error ? Number(error.code) : 0, stderr }),
      ),
    );
    expect(verified).toEqual({ code: 0, stderr: '' });

    const command = parseExecStart(await readFile(unit, 'utf8')) ?? [];
    expect(command).toEqual([
      process.execPath,
      await realpath(bin),
      'serve',
      '--port',
      String(port),
      '--driver',
      'mock',
      '--state-dir',
      stateDir,
    ]);
    // As systemd starts a user service: the command line alone, a small environment, no terminal.
    const [program = '', ...args] = command;
    const service = spawn(program, args, { env: { HOME: home, PATH: '/usr/bin:/bin' }, stdio: 'ignore' });
    if (service.pid !== undefined) started.push(service.pid);
    const exited = new Promise<number | null>((resolve) => service.on('exit', (code) => resolve(code)));
    const info = await vi.waitFor(
      async () => (await (await fetch(`http://127.0.0.1:${port}/info`)).json()) as Record<string, unknown>,
      { timeout: 45_000, interval: 100 },
    );
    expect(info).toMatchObject({ hypervisorName: 'mock' });
    expect(await readdir(stateDir)).toContain('registry.lock');

    const status = await cvmweb(['service', 'status', '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ installed: true, port, answers: true, file: unit });

    service.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect((await cvmweb(['service', 'status'])).code).toBe(6);
    const removed = await cvmweb(['service', 'uninstall']);
    expect(removed.code).toBe(0);
    const left = await readdir(home, { recursive: true, withFileTypes: true });
    expect(left.filter((entry) => entry.isFile() && !entry.parentPath.startsWith(stateDir))).toEqual([]);
  }, 120_000);
});
