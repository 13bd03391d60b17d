import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

// The real `cvmweb` binary (built by `npm run build`) with the example plug-in of examples/
// installed in a temporary project as npm would: the package and its peer @cvmweb/core in the
// project's node_modules (symbolic links to this repository's folders).
const bin = fileURLToPath(new URL('../../dist/bin.js', import.meta.url));
const example = fileURLToPath(new URL('../../../../examples/cvmweb-driver-example', import.meta.url));
const core = fileURLToPath(new URL('../../../core', import.meta.url));

interface Candidate {
  name: string;
  selected: boolean;
  rejected?: string;
  probe: {
    installed: boolean;
    healthy: boolean;
    version?: string;
    score: number;
    reason?: string;
    fix?: string;
    details?: Record<string, unknown>;
  };
}

describe('cvmweb with driver plug-ins', () => {
  let dir: string;
  let project: string;
  let stateDir: string;
  let env: NodeJS.ProcessEnv;

  function cvmweb(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
    return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [bin, ...args],
        { cwd: options.cwd ?? project, env: { ...env, ...options.env }, encoding: 'utf8' },
        (error, stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
      );
    });
  }

  /**
   * Starts a long-running command, waits for a line of its standard output, then stops it (SIGTERM)
   * and returns the line and how the command ended.
   */
  async function runUntil(args: string[], wanted: (line: string) => boolean, more: NodeJS.ProcessEnv = {}) {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: project,
      env: { ...env, ...more },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    let line: string;
    try {
      line = await vi.waitFor(
        () => {
          const found = out.split('\n').find(wanted);
          if (found === undefined) throw new Error(`${args[0]} has not started yet: ${err}`);
          return found;
        },
        { timeout: 20_000, interval: 50 },
      );
    } finally {
      child.kill('SIGTERM');
    }
    return { line, exit: await exited };
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cvmweb-plugin-cli-'));
    project = join(dir, 'project');
    stateDir = join(dir, 'state');
    await mkdir(join(project, 'node_modules', '@cvmweb'), { recursive: true });
    await mkdir(stateDir);
    await symlink(example, join(project, 'node_modules', 'cvmweb-driver-example'), 'dir');
    await symlink(core, join(project, 'node_modules', '@cvmweb', 'core'), 'dir');
    await writeFile(join(project, 'broken.mjs'), 'export const helper = 1;\n');
    env = {
      PATH: dirname(process.execPath),
      HOME: dir,
      CVMWEB_STATE_DIR: stateDir,
      // An empty global node_modules, so that this machine's global packages play no part.
      npm_config_prefix: join(dir, 'global'),
    };
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('detect --json lists the plug-in from CVMWEB_DRIVER_MODULES with its probe, and failed modules with the reason', async () => {
    const { code, stdout, stderr } = await cvmweb(['detect', '--json', '--driver', 'example'], {
      env: { CVMWEB_DRIVER_MODULES: 'cvmweb-driver-example, cvmweb-driver-missing, ./broken.mjs' },
    });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const detection = JSON.parse(stdout) as { winner: string | null; candidates: Candidate[] };
    expect(detection.winner).toBe('example');
    const byName = new Map(detection.candidates.map((c) => [c.name, c]));
    expect(byName.get('example')).toMatchObject({
      selected: true,
      probe: { installed: true, healthy: true, version: '0.1.0', score: 0 },
    });
    expect(byName.get('cvmweb-driver-missing')).toMatchObject({
      selected: false,
      probe: {
        installed: false,
        healthy: false,
        details: { codeName: 'NOT_FOUND', listedIn: 'CVMWEB_DRIVER_MODULES' },
      },
    });
    expect(byName.get('cvmweb-driver-missing')?.probe.fix).toContain(
      'npm install --global cvmweb-driver-missing',
    );
    const broken = byName.get('./broken.mjs');
    expect(broken?.probe).toMatchObject({
      installed: true,
      healthy: false,
      details: { codeName: 'NOT_VALIDATED' },
    });
    expect(broken?.probe.reason).toContain('exports no driver');
    // The built-in drivers are still there.
    expect([...byName.keys()]).toEqual(expect.arrayContaining(['kvm', 'virtualbox', 'mock']));
  });

  it('resolves from the working directory: elsewhere the same module is not found, and the table says so', async () => {
    const elsewhere = join(dir, 'elsewhere');
    await mkdir(elsewhere);
    const { stdout, stderr } = await cvmweb(['detect'], {
      cwd: elsewhere,
      env: { CVMWEB_DRIVER_MODULES: 'cvmweb-driver-example' },
    });
    expect(stderr).toBe('');
    const row = stdout.split('\n').find((line) => line.startsWith('cvmweb-driver-example '));
    expect(row).toMatch(
      /^cvmweb-driver-example\s+no\s+no\s+-\s+0\s+not installed: Driver module cvmweb-driver-example is not installed/,
    );
    expect(row).toContain('npm install --global cvmweb-driver-example');
  });

  it('loads the modules of <state-dir>/config.json, and serve uses the same list', async () => {
    const other = join(dir, 'other-state');
    await mkdir(other);
    await writeFile(join(other, 'config.json'), JSON.stringify({ drivers: ['cvmweb-driver-example'] }));
    const detected = await cvmweb(['detect', '--json', '--state-dir', other]);
    expect(detected.stderr).toBe('');
    const { candidates } = JSON.parse(detected.stdout) as { candidates: Candidate[] };
    expect(candidates.find((c) => c.name === 'example')?.probe).toMatchObject({
      installed: true,
      healthy: true,
    });

    const { line, exit } = await runUntil(
      ['serve', '--driver', 'example', '--port', '0', '--json', '--state-dir', other],
      (l) => l.startsWith('{'),
    );
    expect(exit).toEqual({ code: 0, signal: null });
    expect(JSON.parse(line)).toMatchObject({
      hypervisorName: 'example',
      hypervisorVersion: '0.1.0',
      fallback: false,
    });
  });

  it('the daemon chooses from the same list (CVMWEB_DRIVER names a plug-in driver)', async () => {
    await writeFile(join(stateDir, 'config.json'), JSON.stringify({ drivers: ['cvmweb-driver-example'] }));
    const { line, exit } = await runUntil(['daemon'], (l) => l.startsWith('cvmweb daemon: pid'), {
      CVMWEB_DRIVER: 'example',
    });
    expect(line).toContain(`state dir ${stateDir}`);
    // A SIGTERM the moment it announced itself stops it cleanly.
    expect(exit).toEqual({ code: 0, signal: null });
    // Without the plug-in, the same request names no driver.
    await writeFile(join(stateDir, 'config.json'), '{}');
    const { code, stderr } = await cvmweb(['daemon'], { env: { CVMWEB_DRIVER: 'example' } });
    expect(code).toBe(1);
    expect(stderr).toMatch(/^cvmweb: NOT_FOUND \(-9\): No hypervisor driver named 'example'/);
  });

  it('a bad config.json fails the command with INVALID_USAGE naming the file, without a stack trace', async () => {
    const config = join(stateDir, 'config.json');
    await writeFile(config, '{ "drivers": "cvmweb-driver-example" }');
    const { code, stdout, stderr } = await cvmweb(['detect', '--json']);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toBe(
      `cvmweb: INVALID_USAGE (-99): ${config}: "drivers" must be an array of module names\n`,
    );
  });
});
