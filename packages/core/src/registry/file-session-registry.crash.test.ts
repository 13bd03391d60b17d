import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeRegistryChild } from '../../test/registry-child-code.js';
import { crashVersion } from '../../test/registry-test-support.js';
import { openSessionRegistry } from './file-session-registry.js';
import type { SessionRecord } from './session-record.js';

// A child process writes records in a loop and is killed with SIGKILL at random moments. The
// child runs the real registry code, transpiled to JavaScript (Node 20 cannot run TypeScript).

const IDS = ['s0', 's1', 's2', 's3'];
const KILLS = 6;

const version = crashVersion;

let work: string;
let childScript: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cvmweb-crash-'));
  childScript = await writeRegistryChild(
    join(work, 'code'),
    'child',
    `
import { openSessionRegistry } from './registry/file-session-registry.js';
import { crashVersion as version } from './registry/registry-test-support.js';
const [directory, start] = process.argv.slice(2);
const ids = ${JSON.stringify(IDS)};
const registry = await openSessionRegistry({ directory });
let seq = Number(start);
let announced = false;
for (;;) {
  await Promise.all(ids.map((id) => registry.put(version(id, seq++))));
  if (!announced) { announced = true; process.stdout.write('ready\\n'); }
}
`,
  );
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

function runChild(directory: string, start: number): ChildProcess {
  const child = spawn(process.execPath, [childScript, directory, String(start)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return child;
}

async function untilReady(child: ChildProcess): Promise<void> {
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += String(chunk);
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk) => {
      if (String(chunk).includes('ready')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`child exited (${code}) before writing: ${stderr}`)));
  });
}

describe('openSessionRegistry: kill -9 while writing', () => {
  it('leaves every record file parseable and equal to one version that was written', async () => {
    const directory = join(work, 'registry');
    let start = 0;
    const seen = new Set<string>();
    for (let round = 0; round < KILLS; round++) {
      const child = runChild(directory, start);
      const exited = new Promise((resolve) => child.on('exit', resolve));
      await untilReady(child);
      // Legitimately time: the kill lands at a random moment of the child's write loop, which is
      // what this test samples (no event could say "now, in the middle of a write").
      await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 120));
      child.kill('SIGKILL');
      await exited;

      // Raw files first: every record file is complete JSON and one of the written versions.
      const sessions = join(directory, 'sessions');
      for (const name of await readdir(sessions)) {
        if (!name.endsWith('.json')) continue;
        const record = JSON.parse(await readFile(join(sessions, name), 'utf8')) as SessionRecord;
        const seq = Number(record.properties.seq);
        expect(`${record.id}.json`).toBe(name);
        expect(Number.isInteger(seq) && seq >= 0).toBe(true);
        expect(record).toEqual(version(record.id, seq));
        seen.add(`${record.id}:${seq}`);
      }

      // Then the registry: it takes over the dead child's lock, loads everything, warns about nothing.
      const warnings: string[] = [];
      const registry = await openSessionRegistry({
        directory,
        onWarning: (message) => warnings.push(message),
      });
      expect(warnings).toEqual([]);
      expect(
        registry
          .list()
          .map((r) => r.id)
          .sort(),
      ).toEqual(IDS);
      for (const record of registry.list()) {
        expect(record).toEqual(version(record.id, Number(record.properties.seq)));
        start = Math.max(start, record.updatedAt + 1);
      }
      expect((await readdir(sessions)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
      await registry.close();
      start += 1_000; // later rounds write fresh versions
    }
    expect(seen.size).toBeGreaterThanOrEqual(IDS.length);
  }, 60_000);
});
