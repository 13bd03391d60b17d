import { mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import { type Cvmweb, createCvmweb, isHypervisorError, type Session, SessionState } from '@cvmweb/core';
import { TEST_SCRYPT_COST } from '@cvmweb/core/testing';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  doubleDriver,
  leftovers,
  makeHome,
  readDouble,
  removeHome,
  TEST_VERSION,
  testImages,
} from '../test/double-harness.js';

// Each test spawns tens of VBoxManage processes (Node, each with the double's own start-up), which a
// loaded two-core machine runs at about one a second: a generous bound, never a speed target.
const SLOW = { timeout: 180_000 };

const homes: string[] = [];
const opened: Cvmweb[] = [];

afterEach(async () => {
  for (const cvmweb of opened.splice(0)) await cvmweb.dispose().catch(() => undefined);
  for (const home of homes.splice(0)) await removeHome(home);
});

async function world(options: { disk?: number } = {}) {
  const home = await makeHome();
  homes.push(home);
  const env: Record<string, string | undefined> = {};
  const stateDir = path.join(home, 'state');
  await mkdir(stateDir);
  const cvmweb = await createCvmweb({
    driver: doubleDriver(home, env),
    stateDir,
    secretCost: TEST_SCRYPT_COST,
    images: await testImages(home),
    apiTiming: { onlineIntervalMs: 200, offlineInitialMs: 50, offlineMaxMs: 500, probeTimeoutMs: 500 },
  });
  opened.push(cvmweb);
  await cvmweb.hypervisor.listVms(); // connects before any fault is armed
  const session = await cvmweb.requestSession('faults', 'key');
  const requirements = { version: TEST_VERSION, ram: 256, disk: options.disk ?? 64 };
  /** Fails the `n`th VBoxManage call from now. */
  const failCall = (n: number, mode?: string) => {
    env['VBOXDOUBLE_FAIL_CALL'] = String(n);
    env['VBOXDOUBLE_FAIL_MODE'] = mode;
  };
  const clear = () => {
    env['VBOXDOUBLE_FAIL_CALL'] = undefined;
    env['VBOXDOUBLE_FAIL_MODE'] = undefined;
  };
  return { home, env, cvmweb, session, requirements, failCall, clear };
}

async function failure(
  promise: Promise<unknown>,
): Promise<{ codeName: string; details: Record<string, unknown> }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isHypervisorError(error)) throw new Error(`expected a HypervisorError, got ${String(error)}`);
  return { codeName: error.codeName, details: { ...error.details } };
}

async function nothingLeft(home: string, session: Session) {
  expect(await leftovers(home, session.vmName)).toEqual([]);
  expect((await readDouble(home)).vms).toEqual([]);
}

describe('a failure at every step of open()', SLOW, () => {
  const steps = [
    ['createvm', 'CREATE'],
    ['modifyvm', 'MODIFY'],
    ['storagectl', 'MODIFY'],
    ['storageattach (boot ISO)', 'MODIFY'],
    ['createmedium', 'CREATE'],
    ['storageattach (scratch disk)', 'MODIFY'],
  ] as const;
  for (const [index, [step, code]] of steps.entries()) {
    it(`step ${index + 1}, ${step}: rejects ${code}, leaves nothing, and the session can open again`, async () => {
      const { home, session, requirements, failCall, clear } = await world();
      failCall(index + 1);
      const error = await failure(session.open(requirements));
      expect(error.codeName).toBe(code);
      expect(error.details['command']).toEqual(expect.arrayContaining([step.split(' ')[0]]));
      expect(session.state).toBe(SessionState.Closed);
      await nothingLeft(home, session);
      clear();
      await session.open(requirements);
      expect(session.state).toBe(SessionState.Open);
      await session.close();
      await nothingLeft(home, session);
    });
  }

  it('detects an error printed with exit code 0', async () => {
    const { home, session, requirements, failCall } = await world();
    failCall(2, 'exit0');
    expect((await failure(session.open(requirements))).codeName).toBe('MODIFY');
    await nothingLeft(home, session);
  });

  it('retries a locked machine with back-off and then succeeds', async () => {
    const { home, session, requirements, failCall } = await world();
    failCall(3, 'locked');
    await session.open(requirements);
    expect(session.state).toBe(SessionState.Open);
    expect((await readDouble(home)).vms).toHaveLength(1);
  });

  it('an open() hanging in VBoxManage is aborted by its signal: the child is killed, nothing is left', async () => {
    const { home, session, requirements, failCall } = await world();
    failCall(4, 'hang');
    const controller = new AbortController();
    const pending = failure(session.open(requirements, { signal: controller.signal }));
    // Abort once the 4th call hangs (not earlier: the clean-up's own calls must not be the hung one).
    // The double counts the call under its lock before it hangs, so the count says it is hanging.
    await vi.waitFor(
      async () => {
        expect(((await readDouble(home)) as { fault?: { count: number } }).fault?.count).toBe(4);
      },
      { timeout: 120_000, interval: 20 },
    );
    controller.abort();
    const error = await pending;
    expect(error.codeName).toBe('CONTROL');
    expect(session.state).toBe(SessionState.Closed);
    await nothingLeft(home, session);
  });
});

describe('a failure at every step of start()', SLOW, () => {
  const steps = ['storageattach (context ISO)', 'setextradata (display password)', 'startvm'];
  for (const [index, step] of steps.entries()) {
    it(`step ${index + 1}, ${step}: rejects CONTROL, the VM does not run, and close() leaves nothing`, async () => {
      const { home, session, requirements, failCall, clear } = await world();
      await session.open(requirements);
      failCall(index + 1);
      expect((await failure(session.start('x'))).codeName).toBe('CONTROL');
      expect(session.state).toBe(SessionState.Error);
      const vm = (await readDouble(home)).vms[0];
      expect(vm?.serverPid).toBeNull();
      clear();
      await session.close();
      expect(session.state).toBe(SessionState.Closed);
      await nothingLeft(home, session);
    });
  }

  it('VERR_VMX_IN_VMX_ROOT_MODE rejects EXTERNAL with VirtualBox’s text and a fix', async () => {
    const { home, env, session, requirements } = await world();
    await session.open(requirements);
    env['VBOXDOUBLE_VMX_ROOT'] = '1';
    const error = await failure(session.start('x'));
    expect(error.codeName).toBe('EXTERNAL');
    expect(error.details['status']).toBe('VERR_VMX_IN_VMX_ROOT_MODE');
    expect(String(error.details['fix'])).toMatch(/modprobe -r/);
    env['VBOXDOUBLE_VMX_ROOT'] = undefined;
    await session.close();
    await nothingLeft(home, session);
  });
});

describe('a failure at every step of close()', SLOW, () => {
  const steps = [
    ['showvminfo', 'QUERY'],
    ['controlvm poweroff', 'CONTROL'],
    ['unregistervm', 'DELETE'],
  ] as const;
  for (const [index, [step, code]] of steps.entries()) {
    it(`step ${index + 1}, ${step}: rejects ${code}, the session is Error, and a second close() leaves nothing`, async () => {
      const { home, session, requirements, failCall, clear } = await world();
      await session.open(requirements);
      await session.start('x');
      failCall(index + 1);
      expect((await failure(session.close())).codeName).toBe(code);
      expect(session.state).toBe(SessionState.Error);
      clear();
      await session.close();
      expect(session.state).toBe(SessionState.Closed);
      await nothingLeft(home, session);
    });
  }

  it('close() of a hibernated VM discards the saved state and removes the state file', async () => {
    const { home, session, requirements } = await world({ disk: 0 });
    await session.open(requirements);
    await session.start('x');
    await session.hibernate();
    await session.close();
    await nothingLeft(home, session);
  });
});
