import { mkdir, rename } from 'node:fs/promises';
import * as path from 'node:path';
import { type Cvmweb, createCvmweb, isHypervisorError, SessionState } from '@cvmweb/core';
import { TEST_SCRYPT_COST } from '@cvmweb/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import {
  doubleDriver,
  makeHome,
  readDouble,
  removeHome,
  runDouble,
  TEST_VERSION,
  testImages,
  tinyIso,
  vmSpec,
} from '../test/double-harness.js';
import type { VirtualBoxHypervisor } from './virtualbox-hypervisor.js';
import type { VirtualBoxVm } from './virtualbox-vm.js';

// Each test spawns a dozen or more VBoxManage processes (Node, on a loaded two-core machine).
const SLOW = { timeout: 180_000 };

const homes: string[] = [];
const opened: Cvmweb[] = [];
afterEach(async () => {
  for (const cvmweb of opened.splice(0)) await cvmweb.dispose().catch(() => undefined);
  for (const home of homes.splice(0)) await removeHome(home);
});

/** Moves a VM's folder away (as an unmounted disk would), and returns how to bring it back. */
async function hide(home: string, vmName: string) {
  const folder = path.join(home, 'cvmweb', 'cvmweb', vmName);
  const away = path.join(home, 'moved-away');
  await rename(folder, away);
  return () => rename(away, folder);
}

for (const version of ['7.0.14r161095', '7.2.4r170995']) {
  describe(`an inaccessible VM of ours is not gone (VirtualBox ${version})`, () => {
    it(
      'is listed and found by UUID in Error with a reason and fix; it comes back when its folder does',
      SLOW,
      async () => {
        const home = await makeHome();
        homes.push(home);
        const iso = await tinyIso(home);
        const env = { VBOXDOUBLE_VERSION: version };
        const hv = (await doubleDriver(home, env).create()) as VirtualBoxHypervisor;
        const spec = vmSpec(home, iso.path, { disk: 0 });
        const vm = await hv.createVm(spec);
        // A foreign VM that becomes inaccessible too, outside our base folder: never ours.
        await runDouble(
          home,
          ['createvm', '--name', 'cvmweb-foreign', '--register', '--basefolder', path.join(home, 'x')],
          env,
        );
        await rename(path.join(home, 'x'), path.join(home, 'x-gone'));
        const back = await hide(home, spec.name);

        expect(await hv.listVms()).toEqual([{ id: vm.id, name: spec.name, sessionId: '', state: 'error' }]);
        const found = (await hv.findVm(vm.id)) as VirtualBoxVm;
        expect(found.name).toBe(spec.name);
        expect(await found.state()).toBe('error');
        expect(found.rawState).toBe('inaccessible');
        const error = await found
          .start({ userData: '', context: { format: 'cernvm', path: '', size: 0 } })
          .catch((e) => e);
        expect(isHypervisorError(error) && error.codeName).toBe('INVALID_STATE');
        expect(isHypervisorError(error) && error.details).toMatchObject({
          problem: 'inaccessible',
          vmState: 'inaccessible',
          fix: expect.stringContaining('close the session'),
        });
        const foreign = (await readDouble(home)).vms.find((v) => v.name === 'cvmweb-foreign')?.uuid ?? '';
        expect(await hv.findVm(foreign)).toBeUndefined();

        await back();
        expect(await found.state()).toBe('poweroff');
        expect((await hv.listVms()).map((v) => v.sessionId)).toEqual([spec.sessionId]);
        await vm.destroy();
      },
    );
  });
}

describe('a session whose VM became inaccessible', () => {
  it('keeps its record in Error through reconcile, and close() unregisters the VM', SLOW, async () => {
    const home = await makeHome();
    homes.push(home);
    const stateDir = path.join(home, 'state');
    await mkdir(stateDir);
    const cvmweb = await createCvmweb({
      driver: doubleDriver(home, {}),
      stateDir,
      secretCost: TEST_SCRYPT_COST,
      images: await testImages(home),
    });
    opened.push(cvmweb);
    const session = await cvmweb.requestSession('inaccessible', 'key');
    await session.open({ version: TEST_VERSION, ram: 256, disk: 0 });
    const vmId = session.record.vmId;
    await hide(home, session.vmName);

    await cvmweb.reconcile();
    expect(session.state).toBe(SessionState.Error);
    expect(session.record.vmId).toBe(vmId);
    expect((await readDouble(home)).vms.map((v) => v.uuid)).toEqual([vmId]);

    await session.close();
    expect(session.state).toBe(SessionState.Closed);
    expect((await readDouble(home)).vms).toEqual([]);
  });
});
