import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isProcessAlive } from '@cvmweb/core/node';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

// The real `cvmweb` (built by `npm run build`) in real processes: each signal, and the end of the
// process that started it, stops it cleanly — the registry lock and the daemon's pid file removed.
const bin = fileURLToPath(new URL('../dist/bin.js', import.meta.url));

describe('cvmweb serve and daemon stop cleanly', () => {
  let dir: string;
  let stateDir: string;
  /** Every process this test started, by pid: the only ones it may stop. */
  const started: number[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cvmweb-stop-'));
    stateDir = join(dir, 'state');
  });
  afterEach(async () => {
    for (const pid of started.splice(0)) if (isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  /** Starts `file args`, collecting its output; `pid` of the JSON start-up line once it printed one. */
  function start(file: string, args: string[]) {
    const child = spawn(file, args, {
      env: { PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, HOME: dir, CVMWEB_DRIVER: 'mock' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (child.pid !== undefined) started.push(child.pid);
    let out = '';
    let err = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    const line = (wanted: (line: string) => boolean) =>
      vi.waitFor(
        () => {
          const found = out.split('\n').find(wanted);
          if (found === undefined) throw new Error(`not started yet: ${err}`);
          return found;
        },
        { timeout: 20_000, interval: 50 },
      );
    return { child, exited, line, output: () => ({ out, err }) };
  }

  const serveArgs = () => ['serve', '--driver', 'mock', '--port', '0', '--json', '--state-dir', stateDir];

  async function ready(process: ReturnType<typeof start>) {
    const announced = JSON.parse(await process.line((line) => line.startsWith('{"url"'))) as {
      port: number;
      pid: number;
    };
    started.push(announced.pid);
    const info = await fetch(`http://127.0.0.1:${announced.port}/info`);
    expect(info.status).toBe(200);
    expect(await readdir(stateDir)).toContain('registry.lock');
    return announced;
  }

  it.each(['SIGINT', 'SIGTERM', 'SIGHUP'] as const)(
    'serve exits 0 on %s, lock released, port closed',
    async (signal) => {
      const serve = start(process.execPath, [bin, ...serveArgs()]);
      const { port } = await ready(serve);
      (serve.child as ChildProcess).kill(signal);
      expect(await serve.exited).toEqual({ code: 0, signal: null });
      expect(await readdir(stateDir)).not.toContain('registry.lock');
      await expect(fetch(`http://127.0.0.1:${port}/info`)).rejects.toThrow();
    },
  );

  it('daemon exits 0 on SIGHUP and removes its pid file', async () => {
    const daemon = start(process.execPath, [bin, 'daemon', '--state-dir', stateDir]);
    await daemon.line((line) => line.startsWith('cvmweb daemon: pid'));
    expect(await readdir(stateDir)).toContain('daemon.pid');
    daemon.child.kill('SIGHUP');
    expect(await daemon.exited).toEqual({ code: 0, signal: null });
    expect(daemon.output().out).toContain('stopping (SIGHUP;');
    expect(await readdir(stateDir)).not.toContain('daemon.pid');
    expect(await readdir(stateDir)).not.toContain('registry.lock');
  });

  // The parent holds no pipe of serve's: serve writes to the test's pipes, which outlive the parent.
  const parentScript = (command: string[]) =>
    `const { spawn } = require('node:child_process');
     spawn(${JSON.stringify(command[0])}, ${JSON.stringify(command.slice(1))}, { stdio: 'inherit' });
     setInterval(() => {}, 1000);`;

  it('serve stops when the process that started it is killed with SIGKILL', async () => {
    const parent = start(process.execPath, ['-e', parentScript([process.execPath, bin, ...serveArgs()])]);
    const { pid, port } = await ready(parent);
    expect(pid).not.toBe(parent.child.pid);
    parent.child.kill('SIGKILL');
    await parent.exited;
    await vi.waitFor(() => expect(isProcessAlive(pid)).toBe(false), { timeout: 15_000, interval: 100 });
    expect(await readdir(stateDir)).not.toContain('registry.lock');
    await expect(fetch(`http://127.0.0.1:${port}/info`)).rejects.toThrow();
  });

  it('serve stops when npx is killed with SIGKILL: npx → sh -c (which outlives npx) → serve', async () => {
    // npm exec runs a bin through `sh -c`; the shell waits for serve and is re-parented when npx dies.
    expect(existsSync('/bin/sh')).toBe(true);
    const shell = ['/bin/sh', '-c', '"$@"; exit $?', 'sh', process.execPath, bin, ...serveArgs()];
    const npx = start(process.execPath, ['-e', parentScript(shell)]);
    const { pid } = await ready(npx);
    npx.child.kill('SIGKILL');
    await npx.exited;
    await vi.waitFor(() => expect(isProcessAlive(pid)).toBe(false), { timeout: 15_000, interval: 100 });
    expect(await readdir(stateDir)).not.toContain('registry.lock');
  });
});
