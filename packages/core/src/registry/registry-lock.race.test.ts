import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeRegistryChild } from '../../test/registry-child-code.js';
import { openSessionRegistry } from './file-session-registry.js';

// Real processes race for one registry lock, many times: each child waits for "go <dir>", tries
// to open the registry there and answers "got" or "busy <code>", and keeps what it got until
// "release". Every trial must end with at most one holder, and the lock file must name it.

const CHILDREN = 8;
const TRIALS = { stalePid: 16, staleUnreadable: 6, none: 6, missing: 6, live: 6 };

let work: string;
let script: string;
const children: Worker[] = [];

/** One child process and its replies, in order. */
class Worker {
  readonly process: ChildProcess;
  readonly #replies: string[] = [];
  readonly #waiters: ((line: string) => void)[] = [];
  #stderr = '';

  constructor(file: string) {
    this.process = spawn(process.execPath, [file], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.process.stderr?.on('data', (chunk) => {
      this.#stderr += String(chunk);
    });
    createInterface({ input: this.process.stdout! }).on('line', (line) => {
      const waiter = this.#waiters.shift();
      if (waiter) waiter(line);
      else this.#replies.push(line);
    });
    this.process.on('exit', (code) => {
      for (const waiter of this.#waiters.splice(0)) waiter(`exit ${code}: ${this.#stderr}`);
    });
  }

  send(line: string): void {
    this.process.stdin?.write(`${line}\n`);
  }

  reply(): Promise<string> {
    const ready = this.#replies.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid as number;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cvmweb-lock-race-'));
  script = await writeRegistryChild(
    join(work, 'code'),
    'racer',
    `
import { createInterface } from 'node:readline';
import { openSessionRegistry } from './registry/file-session-registry.js';
import { makeRecord } from './registry/registry-test-support.js';
let held;
process.stdout.write('ready\\n');
for await (const line of createInterface({ input: process.stdin })) {
  const [command, directory] = line.split(' ');
  if (command === 'go') {
    try {
      held = await openSessionRegistry({ directory, durable: false });
      process.stdout.write('got\\n');
    } catch (error) {
      process.stdout.write('busy ' + (error.codeName ?? error.message) + '\\n');
    }
  } else if (command === 'put') {
    try {
      await held.put(makeRecord('by-' + process.pid));
      process.stdout.write('put ok\\n');
    } catch (error) {
      process.stdout.write('put failed ' + error.message + '\\n');
    }
  } else if (command === 'release') {
    await held?.close();
    held = undefined;
    process.stdout.write('released\\n');
  }
}
`,
  );
  for (let i = 0; i < CHILDREN; i++) children.push(new Worker(script));
  for (const child of children) expect(await child.reply()).toBe('ready');
});

afterAll(async () => {
  for (const child of children.splice(0)) {
    const exited = new Promise((resolve) => child.process.on('exit', resolve));
    child.process.stdin?.end();
    await exited;
  }
  if (work) await rm(work, { recursive: true, force: true });
});

/**
 * Runs one trial in a fresh directory prepared by `prepare` (none at all: `prepare` undefined);
 * returns the pids that got the lock. The winner then writes a record, so the folders it needs are there.
 */
async function trial(name: string, prepare: ((directory: string) => Promise<void>) | undefined) {
  const directory = join(work, name);
  if (prepare) {
    await mkdir(join(directory, 'sessions'), { recursive: true });
    await prepare(directory);
  }
  for (const child of children) child.send(`go ${directory}`);
  const replies = await Promise.all(children.map((child) => child.reply()));
  const winners = children.filter((_, i) => replies[i] === 'got').map((child) => child.process.pid);
  const losers = replies.filter((reply) => reply !== 'got');
  // Everyone else was told the registry is in use, nothing else.
  expect(new Set(losers), `${name}: ${replies.join(', ')}`).toEqual(
    losers.length ? new Set(['busy STILL_WORKING']) : new Set(),
  );
  const onDisk = JSON.parse(await readFile(join(directory, 'registry.lock'), 'utf8')) as { pid: number };
  for (const [i, child] of children.entries()) {
    if (replies[i] !== 'got') continue;
    child.send('put');
    expect(await child.reply()).toBe('put ok');
    expect(await readdir(join(directory, 'sessions'))).toContain(`by-${child.process.pid}.json`);
  }
  for (const child of children) child.send('release');
  for (const child of children) expect(await child.reply()).toBe('released');
  return { winners, lockPid: onDisk.pid };
}

describe('registry lock: processes racing', () => {
  it(`gives a stale lock (dead process) to exactly one of ${CHILDREN} processes, every time`, async () => {
    const pid = await deadPid();
    for (let i = 0; i < TRIALS.stalePid; i++) {
      const { winners, lockPid } = await trial(`stale-pid-${i}`, (directory) =>
        writeFile(join(directory, 'registry.lock'), JSON.stringify({ pid, startedAt: 5 })),
      );
      expect(winners, `trial ${i}`).toHaveLength(1);
      expect(lockPid).toBe(winners[0]);
    }
  });

  it('gives an old unreadable lock to exactly one process, every time', async () => {
    for (let i = 0; i < TRIALS.staleUnreadable; i++) {
      const { winners, lockPid } = await trial(`stale-unreadable-${i}`, async (directory) => {
        const file = join(directory, 'registry.lock');
        await writeFile(file, '');
        await utimes(file, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
      });
      expect(winners, `trial ${i}`).toHaveLength(1);
      expect(lockPid).toBe(winners[0]);
    }
  });

  it('gives a free registry to exactly one process, every time', async () => {
    for (let i = 0; i < TRIALS.none; i++) {
      const { winners, lockPid } = await trial(`none-${i}`, async () => undefined);
      expect(winners, `trial ${i}`).toHaveLength(1);
      expect(lockPid).toBe(winners[0]);
    }
  });

  it('gives a registry that does not exist yet to exactly one process, which can write', async () => {
    for (let i = 0; i < TRIALS.missing; i++) {
      const { winners, lockPid } = await trial(`missing-${i}`, undefined);
      expect(winners, `trial ${i}`).toHaveLength(1);
      expect(lockPid).toBe(winners[0]);
    }
  });

  it('gives a live lock to nobody', async () => {
    for (let i = 0; i < TRIALS.live; i++) {
      let holder: Awaited<ReturnType<typeof openSessionRegistry>> | undefined;
      try {
        const { winners, lockPid } = await trial(`live-${i}`, async (directory) => {
          holder = await openSessionRegistry({ directory, durable: false });
        });
        expect(winners, `trial ${i}`).toEqual([]);
        expect(lockPid).toBe(process.pid);
      } finally {
        await holder?.close();
      }
    }
  });
});
