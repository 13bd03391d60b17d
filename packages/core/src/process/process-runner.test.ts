import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { isHypervisorError } from '../errors/hypervisor-error.js';
import type { ProcessFailureDetails } from './process-result.js';
import { createProcessRunner } from './process-runner.js';

const node = process.execPath;

async function failure(promise: Promise<unknown>) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isHypervisorError(error)) throw new Error(`expected a HypervisorError, got ${String(error)}`);
  return { error, details: error.details as unknown as ProcessFailureDetails };
}

describe('createProcessRunner', () => {
  it('runs an argument array without a shell and gives stdout, stderr and the exit code', async () => {
    const runner = createProcessRunner();
    const result = await runner.run(node, [
      '-e',
      'process.stdout.write(process.argv[1]); process.stderr.write("e")',
      '$HOME; echo no shell',
    ]);
    expect(result).toMatchObject({
      exitCode: 0,
      stdout: '$HOME; echo no shell',
      stderr: 'e',
      failed: false,
      timedOut: false,
      isCanceled: false,
      timeoutMs: 60_000,
    });
    expect(result.command).toBe(
      `${node} -e ${JSON.stringify('process.stdout.write(process.argv[1]); process.stderr.write("e")')} "$HOME; echo no shell"`,
    );
  });

  it('sets LC_ALL=C over the caller’s environment, and passes the runner’s and the run’s env', async () => {
    const runner = createProcessRunner({
      env: { FROM_RUNNER: 'r', LC_ALL: 'de_DE.UTF-8', DROPPED: undefined },
    });
    const result = await runner.run(
      node,
      [
        '-e',
        'console.log(JSON.stringify([process.env.LC_ALL, process.env.FROM_RUNNER, process.env.FROM_RUN, "DROPPED" in process.env]))',
      ],
      { env: { FROM_RUN: 'x' } },
    );
    expect(JSON.parse(result.stdout)).toEqual(['C', 'r', 'x', false]);
  });

  it('writes input to the standard input; without input the process reads end-of-file', async () => {
    const runner = createProcessRunner();
    const echo = [
      '-e',
      'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write("[" + s + "]"))',
    ];
    expect((await runner.run(node, echo, { input: 'hello' })).stdout).toBe('[hello]');
    expect((await runner.run(node, echo)).stdout).toBe('[]');
  });

  it('rejects a non-zero exit with the caller’s code, the exit code, the output and the execa error as cause', async () => {
    const runner = createProcessRunner();
    const { error, details } = await failure(
      runner.run(node, ['-e', 'console.error("\\nno such thing"); process.exit(3)'], { code: 'QUERY' }),
    );
    expect(error.codeName).toBe('QUERY');
    expect(error.message).toMatch(/: exit code 3: no such thing$/);
    expect(details).toMatchObject({
      exitCode: 3,
      timedOut: false,
      isCanceled: false,
      stderr: '\nno such thing\n',
    });
    expect((error.cause as { exitCode?: number }).exitCode).toBe(3);
    expect(await failure(runner.run('false', [])).then((f) => f.error.codeName)).toBe('EXTERNAL');
  });

  it('resolves with a failed result when reject is false', async () => {
    const result = await createProcessRunner().run('false', [], { reject: false });
    expect(result).toMatchObject({ exitCode: 1, failed: true, timedOut: false, isCanceled: false });
  });

  it('reports a program that cannot start as EXTERNAL with errorCode ENOENT, or in the result', async () => {
    const runner = createProcessRunner();
    const { error, details } = await failure(runner.run('/nonexistent/cvmweb-no-such-program', []));
    expect(error.codeName).toBe('EXTERNAL');
    expect(details).toMatchObject({ exitCode: undefined, errorCode: 'ENOENT' });
    expect(error.message).toMatch(/not started \(ENOENT\)/);
    const result = await runner.run('/nonexistent/cvmweb-no-such-program', [], { reject: false });
    expect(result).toMatchObject({ exitCode: undefined, errorCode: 'ENOENT', failed: true });
  });

  it('kills a process at its time-out and names the time-out it used, not the default', async () => {
    const runner = createProcessRunner({ timeoutMs: 60_000 });
    const { error, details } = await failure(
      runner.run('sleep', ['30'], { timeoutMs: 200, code: 'CONTROL' }),
    );
    expect(error.codeName).toBe('EXTERNAL');
    expect(error.aborted).toBe(false);
    expect(error.message).toBe('sleep 30: timed out after 200 ms');
    expect(details).toMatchObject({ timedOut: true, isCanceled: false, timeoutMs: 200, exitCode: undefined });
    const result = await createProcessRunner({ timeoutMs: 150 }).run('sleep', ['30'], { reject: false });
    expect(result).toMatchObject({ timedOut: true, timeoutMs: 150, failed: true });
    expect(result.durationMs).toBeLessThan(20_000);
  });

  it('kills a process when the signal aborts, and rejects with an aborted CONTROL error even when reject is false', async () => {
    const runner = createProcessRunner();
    const controller = new AbortController();
    const marker = new Error('user gave up');
    const started = runner.run(node, ['-e', 'console.log("up"); setInterval(() => {}, 1000)'], {
      signal: controller.signal,
      reject: false,
    });
    // Abort once the process runs (the pid appears under /proc of a child of ours).
    setImmediate(() => controller.abort(marker));
    const { error, details } = await failure(started);
    expect(error).toMatchObject({ codeName: 'CONTROL', aborted: true });
    expect(error.cause).toBe(marker);
    expect(details).toMatchObject({ isCanceled: true, timedOut: false });
  });

  it('refuses to start when the signal is aborted already', async () => {
    const debug: string[] = [];
    const runner = createProcessRunner({ onDebug: (line) => debug.push(line) });
    const { error, details } = await failure(runner.run('true', [], { signal: AbortSignal.abort() }));
    expect(error).toMatchObject({ codeName: 'CONTROL', aborted: true });
    expect(details).toMatchObject({ isCanceled: true, exitCode: undefined });
    expect(debug).toEqual(['true', 'true → aborted (0 ms)']);
  });

  it('writes each command line before its process starts, and how a failed one ended', async () => {
    const mine: string[] = [];
    const theirs: string[] = [];
    const runner = createProcessRunner({ onDebug: (line) => mine.push(line) });
    // The line is out while the process still runs: a listener may act between two commands.
    let seenWhileRunning = false;
    const running = runner.run(node, ['-e', 'setTimeout(() => {}, 300)'], {
      onDebug: () => {
        seenWhileRunning = true;
      },
    });
    expect(seenWhileRunning).toBe(true);
    await running;
    await runner.run('true', ['a b']);
    await runner.run('false', [], { reject: false, onDebug: (line) => theirs.push(line) });
    expect(mine.slice(1)).toEqual([
      'true "a b"',
      'false',
      expect.stringMatching(/^false → exit code 1 \(\d+ ms\)$/),
    ]);
    expect(theirs).toEqual(mine.slice(2));
  });

  it('spawns a long-lived process with piped streams that can be killed', async () => {
    const runner = createProcessRunner();
    const child = runner.spawn(node, [
      '-e',
      'process.stdin.on("data", (d) => process.stdout.write(process.env.LC_ALL + ":" + d))',
    ]);
    child.stdin.write('ping');
    const [chunk] = (await once(child.stdout, 'data')) as [Buffer];
    expect(chunk.toString()).toBe('C:ping');
    child.kill();
    await child.exited;
  });
});
