import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCvmweb } from '@cvmweb/core';
import { TEST_SCRYPT_COST } from '@cvmweb/core/testing';
import { createMockHypervisor, mock } from '@cvmweb/driver-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CliIo } from './cli-io.js';
import { run } from './run.js';

// Detection sees only the mock here, so results do not depend on this machine's hypervisors.
function capture(env: NodeJS.ProcessEnv = {}, isTTY = false) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (t) => out.push(t), err: (t) => err.push(t), isTTY, env, drivers: () => [mock()] };
  return { io, out: () => out.join(''), err: () => err.join('') };
}

describe('cvmweb', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cvmweb-cli-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prints help and the version', async () => {
    const help = capture();
    expect(await run(['--help'], help.io)).toBe(0);
    expect(help.out()).toContain('Usage: cvmweb <command>');
    const version = capture();
    expect(await run(['--version'], version.io, '1.2.3')).toBe(0);
    expect(version.out()).toBe('1.2.3\n');
  });

  it('exits 2 on wrong usage, with one line and no stack trace', async () => {
    for (const argv of [
      ['frobnicate'],
      ['--nope'],
      [],
      ['images'],
      ['images', 'pull'],
      ['images', 'list', 'extra'],
    ]) {
      const c = capture({ CVMWEB_CACHE_DIR: dir });
      expect(await run(argv, c.io), argv.join(' ')).toBe(2);
      expect(c.err()).not.toMatch(/\n\s+at /);
    }
  });

  it('detect: lists every candidate; no usable hypervisor exits 3, --driver mock selects the mock', async () => {
    const plain = capture();
    expect(await run(['detect'], plain.io)).toBe(3);
    expect(plain.out()).toMatch(/driver\s+installed\s+healthy/);
    expect(plain.out()).toContain('mock');
    expect(plain.out()).toContain('No usable hypervisor');

    const json = capture();
    expect(await run(['detect', '--json', '--driver', 'mock'], json.io)).toBe(0);
    const parsed = JSON.parse(json.out()) as {
      winner: string;
      candidates: { name: string; selected: boolean }[];
    };
    expect(parsed.winner).toBe('mock');
    expect(parsed.candidates.find((c) => c.name === 'mock')?.selected).toBe(true);

    const env = capture({ CVMWEB_DRIVER: 'mock' });
    expect(await run(['detect'], env.io)).toBe(0);
    expect(env.out()).toContain('Selected: mock');
  });

  it('detect: an unknown driver name is a failure naming the code', async () => {
    const c = capture();
    expect(await run(['detect', '--driver', 'nonesuch'], c.io)).toBe(1);
    expect(c.err()).toMatch(/^cvmweb: NOT_FOUND \(-9\): /);
    expect(c.err().trim().split('\n')).toHaveLength(1);
    const debug = capture();
    expect(await run(['detect', '--driver', 'nonesuch', '--debug'], debug.io)).toBe(1);
    expect(debug.err()).toMatch(/\n\s+at /);
  });

  it('sessions: lists the registry without secrets, also while another process holds it', async () => {
    const state = createMockHypervisor();
    const cvmweb = await createCvmweb({
      driver: mock({ instance: state }),
      stateDir: dir,
      secretCost: TEST_SCRYPT_COST,
    });
    try {
      const session = await cvmweb.requestSession('analysis "one"', 'top-secret');
      await session.open();
      await session.start('password=hunter2');
      const table = capture();
      expect(await run(['sessions', '--state-dir', dir], table.io)).toBe(0);
      expect(table.out()).toContain('analysis "one"');
      expect(table.out()).toContain('Started');
      const json = capture();
      expect(await run(['sessions', '--json'], { ...json.io, env: { CVMWEB_STATE_DIR: dir } })).toBe(0);
      expect(json.out()).not.toContain('hunter2');
      expect(json.out()).not.toContain('"owner"');
      expect(JSON.parse(json.out())[0]).toMatchObject({ name: 'analysis "one"', stateName: 'Started' });
      await session.close();
    } finally {
      await cvmweb.dispose();
      await state.shutdown();
    }
    const empty = capture();
    expect(await run(['sessions', '--state-dir', join(dir, 'nothing')], empty.io)).toBe(0);
    expect(empty.out()).toContain('No sessions');
  });

  it('sessions: reports damaged records on stderr and exits 4, moving nothing and not hanging on a FIFO', async () => {
    const cvmweb = await createCvmweb({ driver: mock(), stateDir: dir, secretCost: TEST_SCRYPT_COST });
    let sessionId: string;
    try {
      await cvmweb.requestSession('healthy', 'key');
      sessionId = (await cvmweb.requestSession('torn one', 'key')).id;
    } finally {
      await cvmweb.dispose();
    }
    const sessions = join(dir, 'sessions');
    const torn = join(sessions, `${sessionId}.json`);
    await writeFile(torn, (await readFile(torn, 'utf8')).slice(0, 160));
    execFileSync('mkfifo', [join(sessions, 'pipe.json')]);
    const before = (await readdir(sessions)).sort();

    const table = capture();
    expect(await run(['sessions', '--state-dir', dir], table.io)).toBe(4);
    expect(table.out()).toContain('healthy');
    expect(table.out()).not.toContain('torn one');
    const lines = table.err().trim().split('\n').sort();
    expect(lines).toHaveLength(3);
    expect(lines[2]).toMatch(
      /^cvmweb: WARNING: damaged session record .*pipe\.json: session pipe: is a FIFO, not a record file; its name cannot be read/,
    );
    expect(lines[1]).toContain(
      `damaged session record ${torn}: session ${sessionId}: is not complete JSON (truncated?); its name "torn one" in local stays reserved`,
    );
    expect(lines[0]).toMatch(/^cvmweb: 2 damaged session records: repair a file and move it back to /);

    const json = capture();
    expect(await run(['sessions', '--json', '--state-dir', dir], json.io)).toBe(4);
    expect(JSON.parse(json.out()).map((r: { name: string }) => r.name)).toEqual(['healthy']);
    expect(json.err()).toContain('WARNING: damaged session record');
    // A reader changes nothing on disk.
    expect((await readdir(sessions)).sort()).toEqual(before);
  });

  describe('images', () => {
    const payload = Buffer.alloc(256 * 1024, 7);
    const sha256 = createHash('sha256').update(payload).digest('hex');
    let server: Server;
    let url: string;
    beforeEach(async () => {
      server = createServer((_req, res) => {
        res.writeHead(200, { 'content-length': payload.length });
        res.end(payload);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/test.iso`;
    });
    afterEach(async () => {
      await new Promise((resolve) => server.close(resolve));
    });

    const catalogFile = async (hash: string) => {
      const file = join(dir, 'catalog.json');
      await writeFile(
        file,
        JSON.stringify({ images: [{ version: 'test', url, sha256: hash, kind: 'iso', context: 'cernvm' }] }),
      );
      return file;
    };

    it('pull downloads with plain progress lines, list shows it, prune removes it', async () => {
      const catalog = await catalogFile(sha256);
      const cache = join(dir, 'cache');
      const pull = capture();
      expect(await run(['images', 'pull', 'test', '--catalog', catalog, '--cache-dir', cache], pull.io)).toBe(
        0,
      );
      expect(pull.out()).toMatch(/100%/);
      expect(pull.out()).toContain(sha256);
      expect(pull.out()).not.toContain('\r');
      const list = capture();
      expect(await run(['images', 'list', '--catalog', catalog, '--cache-dir', cache], list.io)).toBe(0);
      expect(list.out()).toMatch(/test\s+iso\s+yes\s+256\.0 KiB/);
      const prune = capture();
      expect(await run(['images', 'prune', '--all', '--cache-dir', cache], prune.io)).toBe(0);
      expect(prune.out()).toMatch(/Removed 1 image/);
    });

    it('pull on a terminal redraws one line', async () => {
      const catalog = await catalogFile(sha256);
      const pull = capture({}, true);
      expect(
        await run(['images', 'pull', 'test', '--catalog', catalog, '--cache-dir', join(dir, 'c')], pull.io),
      ).toBe(0);
      expect(pull.out()).toContain('\r');
      expect(pull.out()).toMatch(/\[=+>? *\]/);
    });

    it("reads the user's catalog from <state-dir>/images.json by default", async () => {
      await writeFile(
        join(dir, 'images.json'),
        JSON.stringify({ images: [{ version: 'mine', url, sha256, kind: 'iso', context: 'cloud-init' }] }),
      );
      const list = capture();
      expect(await run(['images', 'list', '--state-dir', dir, '--cache-dir', join(dir, 'c')], list.io)).toBe(
        0,
      );
      expect(list.out()).toMatch(/mine\s+iso\s+no/);
      expect(list.out()).toMatch(/1\.3\s+iso/);
    });

    it('a checksum mismatch fails with NOT_VALIDATED', async () => {
      const catalog = await catalogFile('0'.repeat(64));
      const pull = capture();
      expect(
        await run(['images', 'pull', 'test', '--catalog', catalog, '--cache-dir', join(dir, 'c')], pull.io),
      ).toBe(1);
      expect(pull.err()).toMatch(/NOT_VALIDATED \(-12\)/);
    });

    it('an unknown version fails with NOT_FOUND', async () => {
      const pull = capture();
      expect(await run(['images', 'pull', 'nonesuch', '--cache-dir', join(dir, 'c')], pull.io)).toBe(1);
      expect(pull.err()).toMatch(/NOT_FOUND \(-9\)/);
    });
  });

  it('daemon status is truthful without a display or a session: unknown, never idle', async () => {
    const c = capture({ DISPLAY: '', WAYLAND_DISPLAY: '' });
    expect(await run(['daemon', 'status', '--state-dir', dir], c.io)).toBe(0);
    expect(c.out()).toMatch(/Daemon:\s+not running/);
    expect(c.out()).toMatch(/User idle:\s+unknown: /);
    expect(c.out()).not.toMatch(/System:\s+idle/);
    const bad = capture();
    expect(await run(['daemon', 'status', '--idle-time', '0', '--state-dir', dir], bad.io)).toBe(2);
    const extra = capture();
    expect(await run(['daemon', 'frobnicate', '--state-dir', dir], extra.io)).toBe(2);
  });

  it('the built bin runs', () => {
    const bin = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
    expect(execFileSync(process.execPath, [bin, '--version'], { encoding: 'utf8' }).trim()).toMatch(
      /^\d+\.\d+\.\d+$/,
    );
  });
});
