import { readFile, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { createCvmweb } from '@cvmweb/core';
import { closeAndDispose, TEST_SCRYPT_COST } from '@cvmweb/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import {
  doubleDriver,
  makeHome,
  removeHome,
  startSpec,
  TEST_VERSION,
  testImages,
  tinyIso,
  vmSpec,
} from '../test/double-harness.js';
import {
  parseExtPacks,
  VRDE_PASSWORD_FILE,
  vrdePasswordHash,
  vrdeUnavailableReason,
} from './vrde-display.js';

// Each test spawns a dozen or more VBoxManage processes (Node, on a loaded two-core machine).
const SLOW = { timeout: 180_000 };

const homes: string[] = [];
afterEach(async () => {
  for (const home of homes.splice(0)) await removeHome(home);
});

async function world(env: Record<string, string> = {}) {
  const home = await makeHome();
  homes.push(home);
  const iso = await tinyIso(home);
  const hv = await doubleDriver(home, { ...env }).create();
  return { home, iso, hv };
}

/** The double's record of a VM: its VRDE settings and extra data. */
async function recorded(home: string, uuid: string) {
  const registry = JSON.parse(await readFile(path.join(home, 'vboxmanage-double.json'), 'utf8')) as {
    vms: {
      uuid: string;
      cfgFile: string;
      vrdeSettings?: Record<string, string>;
      extradata?: Record<string, string>;
    }[];
  };
  return registry.vms.find((vm) => vm.uuid === uuid);
}

describe('the VirtualBox display (VRDE) and screenshots, on the double', () => {
  it('reads the extension packs: an RDP server only from a usable pack with a VRDE module', () => {
    const oracle = [
      'Extension Packs: 1',
      'Pack no. 0:   Oracle VM VirtualBox Extension Pack',
      'Version:      7.0.14',
      'VRDE Module:  VBoxVRDP',
      'Usable:       true',
      'Why unusable: ',
    ].join('\n');
    expect(parseExtPacks(oracle)).toEqual([
      { name: 'Oracle VM VirtualBox Extension Pack', vrdeModule: 'VBoxVRDP', usable: true, whyUnusable: '' },
    ]);
    expect(vrdeUnavailableReason(parseExtPacks(oracle))).toBeUndefined();
    expect(vrdeUnavailableReason(parseExtPacks('Extension Packs: 0\n'))).toMatch(
      /Extension Pack.*not installed/,
    );
    const broken = oracle
      .replace('Usable:       true', 'Usable:       false')
      .replace('Why unusable: ', 'Why unusable: too old');
    expect(vrdeUnavailableReason(parseExtPacks(broken))).toMatch(/not usable: too old/);
  });

  it(
    'serves RDP on 127.0.0.1 with a new password per start, checked by VBoxAuthSimple, and takes PNG screenshots',
    SLOW,
    async () => {
      const { home, iso, hv } = await world();
      expect(hv.capabilities).toEqual({});
      const vm = await hv.createVm(vmSpec(home, iso.path, { disk: 0 }));
      const settings = (await recorded(home, vm.id))?.vrdeSettings;
      expect(settings).toMatchObject({
        vrde: 'on',
        address: '127.0.0.1',
        authtype: 'external',
        authlibrary: 'VBoxAuthSimple',
      });
      const [first, last] = (settings?.['ports'] ?? '').split('-').map(Number);
      expect((last ?? 0) - (first ?? 0)).toBe(99);
      expect(await vm.display?.()).toBeUndefined(); // off: vrdeport=-1

      await vm.start(await startSpec(path.join(home, 'context.iso')));
      const endpoint = await vm.display?.();
      expect(endpoint).toMatchObject({ protocol: 'rdp', host: '127.0.0.1', port: first, user: 'cvmweb' });
      expect(endpoint?.password).toMatch(/^[A-Za-z0-9_-]{8}$/);
      const extradata = (await recorded(home, vm.id))?.extradata ?? {};
      expect(extradata['VBoxAuthSimple/users/cvmweb']).toBe(vrdePasswordHash(endpoint?.password ?? ''));
      const png = Buffer.from((await vm.screenshot?.()) ?? []);
      expect([...png.subarray(0, 4)]).toEqual([0x89, 0x50, 0x4e, 0x47]);
      expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([720, 400]);

      await vm.stop();
      await expect(vm.screenshot?.()).rejects.toMatchObject({ code: -8 }); // not running
      await vm.start(await startSpec(path.join(home, 'context.iso')));
      const next = await vm.display?.();
      expect(next?.password).not.toBe(endpoint?.password);
      expect((await recorded(home, vm.id))?.extradata?.['VBoxAuthSimple/users/cvmweb']).toBe(
        vrdePasswordHash(next?.password ?? ''),
      );
      // The password is kept for later processes in the VM's folder, owner-only, and goes with it.
      const secret = path.join(
        path.dirname((await recorded(home, vm.id))?.cfgFile ?? ''),
        VRDE_PASSWORD_FILE,
      );
      expect((await stat(secret)).mode & 0o777).toBe(0o600);
      expect(await readFile(secret, 'utf8')).toBe(next?.password);
      await vm.destroy();
      await expect(stat(secret)).rejects.toThrow();
    },
  );

  it(
    'without the extension pack: no VRDE, capability display off with the reason (NOT_SUPPORTED), screenshots still work',
    SLOW,
    async () => {
      const home = await makeHome();
      homes.push(home);
      const cvmweb = await createCvmweb({
        driver: doubleDriver(home, { VBOXDOUBLE_EXTPACK: 'none' }),
        stateDir: path.join(home, 'state'),
        secretCost: TEST_SCRYPT_COST,
        images: await testImages(home),
        stopTimeoutMs: 3000,
      });
      try {
        expect(cvmweb.hypervisor.capabilities).toMatchObject({ display: false, screenshot: true });
        expect(cvmweb.hypervisor.capabilityReasons.display).toMatch(/Oracle VM VirtualBox Extension Pack/);
        const session = await cvmweb.requestSession('no-pack', 'key');
        await session.open({ ram: 128, disk: 0, version: TEST_VERSION });
        await session.start('');
        const refused = await session.displayEndpoint().catch((error: unknown) => error);
        expect(refused).toMatchObject({ code: -11 });
        expect(String((refused as Error).message)).toMatch(/Extension Pack/);
        expect(session.rdpURL).toBe('');
        expect(
          (await recorded(home, (await cvmweb.hypervisor.listVms())[0]?.id ?? ''))?.vrdeSettings,
        ).toMatchObject({ vrde: 'off' });
        const png = Buffer.from(await session.screenshot());
        expect(png.readUInt32BE(16)).toBe(720);
        await session.close();
      } finally {
        await closeAndDispose(cvmweb);
      }
    },
  );
});
