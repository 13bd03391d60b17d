import * as path from 'node:path';
import { isHypervisorError } from '@cvmweb/core';
import { createProcessRunner, type ProcessRunner } from '@cvmweb/core/node';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DOUBLE,
  doubleDriver,
  MATRIX_VERSIONS,
  makeHome,
  removeHome,
  runDouble,
  startSpec,
  tinyIso,
  vmSpec,
} from '../test/double-harness.js';
import { dialectFor } from './commands.js';
import { VBoxManage } from './vboxmanage.js';
import { VirtualBoxHypervisor } from './virtualbox-hypervisor.js';

// Each test spawns a dozen or more VBoxManage processes (Node, on a loaded two-core machine).
const SLOW = { timeout: 180_000 };

const homes: string[] = [];
afterEach(async () => {
  for (const home of homes.splice(0)) await removeHome(home);
});

async function world(version: string) {
  const home = await makeHome();
  homes.push(home);
  const iso = await tinyIso(home);
  const calls: string[][] = [];
  const env = { VBOX_USER_HOME: home, VBOXDOUBLE_VERSION: version };
  const inner = createProcessRunner({ env });
  const runner: Pick<ProcessRunner, 'run'> = {
    run: (file, argv, options) => {
      calls.push([...argv]);
      return inner.run(file, argv, options);
    },
  };
  return { home, iso, env, calls, runner };
}

describe('the driver speaks each version’s spelling, and the double accepts only that version’s', () => {
  for (const version of MATRIX_VERSIONS) {
    it(`VirtualBox ${version}: open, cap while off and on, close`, SLOW, async () => {
      const { home, iso, env, calls, runner } = await world(version);
      const hv = await doubleDriver(home, { VBOXDOUBLE_VERSION: version }, { runner }).create();
      expect(hv.version).toBe(version.replace(/[_r].*$/, ''));
      const vm = await hv.createVm(vmSpec(home, iso.path, { disk: 0 }));
      await vm.setExecutionCap?.(40);
      await vm.start(await startSpec(path.join(home, 'context.iso')));
      await vm.setExecutionCap?.(60);
      await vm.destroy();
      const modern = version.startsWith('7');
      const modifyvm = calls.filter((c) => c[0] === 'modifyvm').flat();
      expect(modifyvm).toContain(modern ? '--cpu-execution-cap' : '--cpuexecutioncap');
      expect(modifyvm).toContain(modern ? '--nat-pf1' : '--natpf1');
      expect(modifyvm).not.toContain(modern ? '--cpuexecutioncap' : '--cpu-execution-cap');
      expect(calls).toContainEqual(['controlvm', vm.id, 'cpuexecutioncap', '60']);
      expect(env.VBOXDOUBLE_VERSION).toBe(version);
    });
  }

  it('6.1 refuses the 7.0 spellings with VBoxManage’s usage error; 7.x takes both', SLOW, async () => {
    const home = await makeHome();
    homes.push(home);
    await runDouble(home, ['createvm', '--name', 'cvmweb-x', '--register', '--basefolder', home]);
    for (const [version, dashed, old] of [
      ['6.1.50_Ubuntur161033', 2, 0],
      ['7.0.14r161095', 0, 0],
      ['7.2.4r170995', 0, 0],
    ] as const) {
      const env = { VBOXDOUBLE_VERSION: version };
      const refused = await runDouble(home, ['modifyvm', 'cvmweb-x', '--cpu-execution-cap', '50'], env);
      expect(refused.exitCode, version).toBe(dashed);
      if (dashed) expect(refused.stderr).toContain('Unknown option: --cpu-execution-cap');
      const nat = await runDouble(
        home,
        ['modifyvm', 'cvmweb-x', '--nat-pf1', `r-${version},tcp,,1234,,80`],
        env,
      );
      expect(nat.exitCode, version).toBe(dashed);
      const taken = await runDouble(home, ['modifyvm', 'cvmweb-x', '--cpuexecutioncap', '50'], env);
      expect(taken.exitCode, version).toBe(old);
    }
  });

  it('a driver that sent 7.x spellings to 6.1 would fail: the double catches it', SLOW, async () => {
    const { home, iso, runner } = await world('6.1.50_Ubuntur161033');
    const hv = new VirtualBoxHypervisor({
      vbox: new VBoxManage(runner, DOUBLE),
      version: '6.1.50',
      dialect: dialectFor(7),
      baseFolder: path.join(home, 'cvmweb'),
      stopTimeoutMs: 1000,
      stopPollMs: 50,
    });
    const error = await hv.createVm(vmSpec(home, iso.path, { disk: 0 })).catch((e: unknown) => e);
    expect(isHypervisorError(error) && error.codeName).toBe('EXTERNAL');
    expect(isHypervisorError(error) && error.message).toContain('Unknown option: --cpu-execution-cap');
    expect(await hv.listVms()).toEqual([]);
  });
});
