import { HypervisorError } from '@cvmweb/core';
import { type ProcessRunner, processResult, type RunProcessOptions } from '@cvmweb/core/node';
import { describe, expect, it } from 'vitest';
import { isNotFound, isVirshFailure, Virsh } from './virsh.js';

/** A runner whose virsh fails every command with `stderr`, and reports each call's debug line. */
function failing(stderr: string): ProcessRunner {
  return {
    run: async (file, args, options: RunProcessOptions = {}) => {
      options.onDebug?.(`${file} ${args.join(' ')}`);
      return processResult(file, args, { stderr, exitCode: 1 });
    },
    spawn: () => {
      throw new Error('no persistent channel in this test');
    },
  };
}

const virshWith = (runner: ProcessRunner) =>
  new Virsh(runner, { virsh: 'virsh', uri: 'qemu:///system', channel: false, timeoutMs: 1000 });

async function rejection(promise: Promise<unknown>): Promise<HypervisorError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof HypervisorError))
    throw new Error(`expected a HypervisorError, got ${String(error)}`);
  return error;
}

describe('Virsh errors', () => {
  it("classifies 'domain is not running' as details.reason, where virsh's answer is parsed", async () => {
    const error = await rejection(
      virshWith(
        failing(
          "error: Failed to destroy domain 'x'\nerror: Requested operation is not valid: domain is not running\n",
        ),
      ).run(['destroy', 'x'], { code: 'CONTROL' }),
    );
    expect(error.codeName).toBe('CONTROL');
    expect(error.details['reason']).toBe('not-running');
    expect(isVirshFailure(error, 'not-running')).toBe(true);
  });

  it('classifies the refusal to read a transient domain’s persistent config', async () => {
    const error = await rejection(
      virshWith(
        failing(
          'error: Requested operation is not valid: transient domains do not have any persistent config\n',
        ),
      ).run(['metadata', 't', '--uri', 'u', '--config'], { code: 'QUERY' }),
    );
    expect(isVirshFailure(error, 'transient')).toBe(true);
    expect(isNotFound(error)).toBe(false);
  });

  it('gives no reason to a failure that merely mentions the words', async () => {
    const error = await rejection(
      virshWith(
        failing("error: Failed to destroy domain 'x'\nerror: internal error: guest agent not running\n"),
      ).run(['destroy', 'x'], { code: 'CONTROL' }),
    );
    expect(error.details['reason']).toBeUndefined();
    expect(isVirshFailure(error, 'not-running')).toBe(false);
  });

  it('reports "not found" answers as NOT_FOUND', async () => {
    const error = await rejection(
      virshWith(failing("error: failed to get domain 'gone'\n")).run(['domstate', 'gone'], { code: 'QUERY' }),
    );
    expect(isNotFound(error)).toBe(true);
  });
});

describe('Virsh debug lines', () => {
  it("passes each call's onDebug to the command it runs", async () => {
    const lines: string[] = [];
    await virshWith(failing(''))
      .run(['domstate', 'x'], { onDebug: (line) => lines.push(line) })
      .catch(() => undefined);
    expect(lines).toEqual(['virsh -c qemu:///system domstate x']);
  });
});
