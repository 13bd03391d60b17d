import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CliIo } from '../cli-io.js';
import { serveCommand } from './serve-command.js';

describe('cvmweb serve', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cvmweb-serve-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('falls back to the mock with a loud banner, serves /info on loopback, and stops on its signal', async () => {
    const out: string[] = [];
    const err: string[] = [];
    let announce: (line: string) => void = () => {};
    const announced = new Promise<string>((resolve) => {
      announce = resolve;
    });
    const io: CliIo = {
      out: (text) => {
        out.push(text);
        if (text.includes('"url"')) announce(text);
      },
      err: (text) => err.push(text),
      isTTY: false,
      env: {},
      drivers: () => [],
    };
    const controller = new AbortController();
    const exit = serveCommand(
      io,
      { fallback: 'mock', port: 0, stateDir: dir, json: true },
      { signal: controller.signal },
    );
    const ready = JSON.parse(await announced) as {
      url: string;
      port: number;
      fallback: boolean;
      hypervisorName: string;
    };
    expect(ready).toMatchObject({ fallback: true, hypervisorName: 'mock' });
    expect(err.join('')).toContain('SIMULATED (mock) driver');
    const info = (await (await fetch(`http://127.0.0.1:${ready.port}/info`)).json()) as Record<
      string,
      unknown
    >;
    expect(info).toMatchObject({ hypervisorName: 'mock' });
    expect(JSON.stringify(info)).not.toContain(dir);
    // A DNS-rebinding page reaches the port under a foreign Host name (fetch cannot forge Host, http can).
    const forged = await new Promise<number>((resolve, reject) => {
      const headers = { host: `evil.example:${ready.port}` };
      get({ host: '127.0.0.1', port: ready.port, path: '/info', headers }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });
    expect(forged).toBe(403);
    controller.abort();
    expect(await exit).toBe(0);
    await expect(fetch(`http://127.0.0.1:${ready.port}/info`)).rejects.toThrow();
  });

  it('reports damaged session records at start-up: a warning line each, and in the --json line', async () => {
    await mkdir(join(dir, 'sessions'), { recursive: true });
    await writeFile(
      join(dir, 'sessions', 'abc.json'),
      '{\n  "id": "abc",\n  "scope": "local",\n  "name": "lost one",\n  "vmN',
    );
    const out: string[] = [];
    const err: string[] = [];
    let announce: (line: string) => void = () => {};
    const announced = new Promise<string>((resolve) => {
      announce = resolve;
    });
    const io: CliIo = {
      out: (text) => {
        out.push(text);
        if (text.includes('"url"')) announce(text);
      },
      err: (text) => err.push(text),
      isTTY: false,
      env: {},
      drivers: () => [],
    };
    const controller = new AbortController();
    const exit = serveCommand(
      io,
      { fallback: 'mock', port: 0, stateDir: dir, json: true },
      { signal: controller.signal },
    );
    const ready = JSON.parse(await announced) as { damaged: unknown[]; keptVms: string[]; sessions: number };
    const moved = join(dir, 'damaged', 'abc.json');
    expect(ready).toMatchObject({
      sessions: 0,
      damaged: [{ id: 'abc', name: 'lost one', scope: 'local', reason: 'not-json', file: moved }],
      keptVms: [],
    });
    expect(err.join('')).toContain(
      `cvmweb: WARNING: damaged session record ${join(dir, 'sessions', 'abc.json')} (moved to ${moved}): session abc: is not complete JSON (truncated?); its name "lost one" in local stays reserved`,
    );
    controller.abort();
    expect(await exit).toBe(0);
    expect(await readdir(join(dir, 'sessions'))).toEqual([]);
    expect(await readdir(join(dir, 'damaged'))).toEqual(['abc.json']);
  });

  it('refuses, without hanging, a FIFO where the state directory has a file it reads', async () => {
    const io: CliIo = { out: () => {}, err: () => {}, isTTY: false, env: {}, drivers: () => [] };
    for (const name of ['images.json', 'daemon.json', 'bridge-policy.json']) {
      const state = join(dir, name.replace('.', '-'));
      await mkdir(state);
      execFileSync('mkfifo', [join(state, name)]);
      await expect(
        serveCommand(io, { fallback: 'mock', port: 0, stateDir: state, json: true }),
        name,
      ).rejects.toMatchObject({ codeName: 'INVALID_USAGE', message: expect.stringContaining('is a FIFO') });
      // No lock left behind by the refused start.
      expect((await readdir(state)).filter((entry) => entry.startsWith('registry.lock'))).toEqual([]);
    }
  });

  it('without a usable hypervisor and without --fallback fails with NOT_FOUND', async () => {
    const io: CliIo = { out: () => {}, err: () => {}, isTTY: false, env: {}, drivers: () => [] };
    await expect(serveCommand(io, { port: 0, stateDir: dir })).rejects.toMatchObject({
      codeName: 'NOT_FOUND',
    });
  });

  it('refuses a bad --fallback or --port as wrong usage', async () => {
    const io: CliIo = { out: () => {}, err: () => {}, isTTY: false, env: {}, drivers: () => [] };
    await expect(serveCommand(io, { fallback: 'qemu', stateDir: dir })).rejects.toMatchObject({
      codeName: 'INVALID_USAGE',
    });
    await expect(serveCommand(io, { port: 70000, stateDir: dir })).rejects.toMatchObject({
      codeName: 'INVALID_USAGE',
    });
  });
});
