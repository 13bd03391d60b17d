import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Driver, ErrorCode, isHypervisorError, type ProbeResult } from '@cvmweb/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { globalNodeModules } from './global-node-modules.js';
import { loadDriverPlugins } from './load-driver-plugins.js';

/** A module source whose default export is a factory of a driver named `name`. */
const driverSource = (name: string, exportLine = 'export default () => driver;') => `
const driver = {
  name: '${name}',
  capabilities: { executionCap: false, pause: false, hibernate: false, reset: false, guestProperties: false, apiPortForwarding: false },
  probe: async () => ({ installed: true, healthy: true, version: '9.9', score: 42 }),
  create: async () => { throw new Error('not here'); },
};
${exportLine}
`;

async function writePackage(nodeModules: string, name: string, source: string, manifest: object = {}) {
  const dir = join(nodeModules, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name, type: 'module', ...manifest }));
  await writeFile(join(dir, 'index.js'), source);
  return dir;
}

const probeOf = (driver: Driver): Promise<ProbeResult> => driver.probe();

describe('loadDriverPlugins', () => {
  let dir: string;
  let cwd: string;
  let stateDir: string;
  let globalDir: string;
  const load = (env: NodeJS.ProcessEnv, more: { taken?: string[]; cwd?: string } = {}) =>
    loadDriverPlugins({
      env,
      cwd: more.cwd ?? cwd,
      stateDir,
      globalDirs: [globalDir],
      taken: more.taken ?? [],
    });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cvmweb-plugins-'));
    cwd = join(dir, 'project');
    stateDir = join(dir, 'state');
    globalDir = join(dir, 'global', 'lib', 'node_modules');
    await Promise.all([mkdir(cwd), mkdir(stateDir), mkdir(globalDir, { recursive: true })]);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('loads nothing when neither CVMWEB_DRIVER_MODULES nor config.json names a module', async () => {
    expect(await load({})).toEqual([]);
    await writeFile(join(stateDir, 'config.json'), '{ "other": true }');
    expect(await load({ CVMWEB_DRIVER_MODULES: ' , ' })).toEqual([]);
  });

  it('resolves a package from the working directory, then its parents, then the global node_modules', async () => {
    await writePackage(join(cwd, 'node_modules'), 'cvmweb-driver-here', driverSource('here'));
    await writePackage(join(dir, 'node_modules'), '@acme/cvmweb-driver-up', driverSource('up'));
    await writePackage(globalDir, 'cvmweb-driver-global', driverSource('global'));
    const drivers = await load({
      CVMWEB_DRIVER_MODULES: 'cvmweb-driver-here, @acme/cvmweb-driver-up,cvmweb-driver-global',
    });
    expect(drivers.map((d) => d.name)).toEqual(['here', 'up', 'global']);
    expect(await probeOf(drivers[0]!)).toMatchObject({ installed: true, healthy: true, score: 42 });

    // From another working directory the project's package is not found; the global one still is.
    const elsewhere = await load(
      { CVMWEB_DRIVER_MODULES: 'cvmweb-driver-here,cvmweb-driver-global' },
      { cwd: globalDir },
    );
    expect(elsewhere.map((d) => d.name)).toEqual(['cvmweb-driver-here', 'global']);
    const missing = await probeOf(elsewhere[0]!);
    expect(missing).toMatchObject({ installed: false, healthy: false, score: 0 });
    expect(missing.details).toMatchObject({ code: ErrorCode.NOT_FOUND, listedIn: 'CVMWEB_DRIVER_MODULES' });
    expect(missing.details?.['searched']).toContain(globalDir);
    expect(missing.fix).toContain('npm install --global cvmweb-driver-here');
  });

  it('npm global node_modules: from NPM_CONFIG_PREFIX, else next to the running node', () => {
    expect(globalNodeModules({ NPM_CONFIG_PREFIX: '/opt/npm' }, '/usr/bin/node', 'linux')).toBe(
      '/opt/npm/lib/node_modules',
    );
    expect(globalNodeModules({}, '/usr/local/bin/node', 'linux')).toBe('/usr/local/lib/node_modules');
    expect(globalNodeModules({}, 'C:\\nodejs\\node.exe', 'win32')).toMatch(/nodejs[\\/]node_modules$/);
  });

  it("follows a package's exports (import condition) and main, and accepts paths and file: URLs", async () => {
    const modules = join(cwd, 'node_modules');
    const conditional = await writePackage(modules, 'cvmweb-driver-cond', 'export default 1;', {
      exports: { '.': { types: './index.d.ts', require: './nope.cjs', import: './driver.js' } },
    });
    await writeFile(join(conditional, 'driver.js'), driverSource('cond'));
    const sub = await writePackage(modules, 'cvmweb-driver-sub', 'export default 1;', {
      exports: { '.': './index.js', './extra': { default: './extra.js' } },
    });
    await writeFile(join(sub, 'extra.js'), driverSource('extra'));
    const main = await writePackage(modules, 'cvmweb-driver-main', 'export default 1;', {
      main: 'lib/entry',
    });
    await mkdir(join(main, 'lib'));
    await writeFile(join(main, 'lib', 'entry.js'), driverSource('main'));
    const file = join(dir, 'loose.mjs');
    await writeFile(file, driverSource('loose'));
    const url = join(dir, 'by-url.mjs');
    await writeFile(url, driverSource('url'));
    const bad = await load({ CVMWEB_DRIVER_MODULES: 'file://remote-host/x.js' });
    expect(await probeOf(bad[0]!)).toMatchObject({ installed: false, details: { codeName: 'NOT_FOUND' } });
    const drivers = await load({
      CVMWEB_DRIVER_MODULES: [
        'cvmweb-driver-cond',
        'cvmweb-driver-sub/extra',
        'cvmweb-driver-main',
        '../loose.mjs',
        pathToFileURL(url).href,
      ].join(','),
    });
    expect(drivers.map((d) => d.name)).toEqual(['cond', 'extra', 'main', 'loose', 'url']);
  });

  it('takes a driver object or factory from the default export or the named export driver', async () => {
    const modules = join(cwd, 'node_modules');
    await writePackage(modules, 'p-default-object', driverSource('a', 'export default driver;'));
    await writePackage(modules, 'p-named-object', driverSource('b', 'export { driver };'));
    await writePackage(
      modules,
      'p-named-factory',
      `${driverSource('c', 'export const helper = () => 1;')}export default { not: 'a driver' };
export const driver = async () => ({ ...made });`.replace('const driver =', 'const made ='),
    );
    const drivers = await load({ CVMWEB_DRIVER_MODULES: 'p-default-object,p-named-object,p-named-factory' });
    expect(drivers.map((d) => d.name)).toEqual(['a', 'b', 'c']);
  });

  it('a module that fails to load, or exports no driver, becomes a candidate that says why', async () => {
    const modules = join(cwd, 'node_modules');
    await writePackage(modules, 'cvmweb-driver-throws', 'throw new Error("boom at load");');
    await writePackage(modules, 'cvmweb-driver-syntax', 'export default {;');
    await writePackage(modules, 'cvmweb-driver-dep', 'import "cvmweb-no-such-dependency"; export default 1;');
    await writePackage(modules, 'cvmweb-driver-none', 'export const helper = () => 1; export default 42;');
    await writePackage(modules, 'cvmweb-driver-junk', 'export default () => ({ name: "Junk Name" });');
    await writePackage(
      modules,
      'cvmweb-driver-factory-throws',
      'export default () => { throw new Error("no"); };',
    );
    const drivers = await load({
      CVMWEB_DRIVER_MODULES:
        'cvmweb-driver-throws,cvmweb-driver-syntax,cvmweb-driver-dep,cvmweb-driver-none,cvmweb-driver-junk,cvmweb-driver-factory-throws',
    });
    const probes = await Promise.all(drivers.map(probeOf));
    const summary = drivers.map((d, i) => [
      d.name,
      probes[i]!.installed,
      probes[i]!.healthy,
      probes[i]!.details?.['codeName'],
    ]);
    expect(summary).toEqual([
      ['cvmweb-driver-throws', true, false, 'EXTERNAL'],
      ['cvmweb-driver-syntax', true, false, 'EXTERNAL'],
      ['cvmweb-driver-dep', true, false, 'EXTERNAL'],
      ['cvmweb-driver-none', true, false, 'NOT_VALIDATED'],
      ['cvmweb-driver-junk', true, false, 'NOT_VALIDATED'],
      ['cvmweb-driver-factory-throws', true, false, 'EXTERNAL'],
    ]);
    expect(probes[0]!.reason).toContain('boom at load');
    expect(probes[3]!.reason).toContain('exports no driver');
    expect(probes[3]!.details).toMatchObject({ exports: ['default', 'helper'] });
    expect(probes.every((p) => p.score === 0 && p.fix?.includes('CVMWEB_DRIVER_MODULES'))).toBe(true);
    // A stand-in can never be used.
    const created = await drivers[0]!.create().catch((error: unknown) => error);
    expect(isHypervisorError(created) && created.code).toBe(ErrorCode.EXTERNAL);
  });

  it('a module that does not finish loading within the time box is reported; an abort rejects at once', async () => {
    const modules = join(cwd, 'node_modules');
    await writePackage(modules, 'cvmweb-driver-hangs', 'await new Promise(() => {}); export default 1;');
    await writePackage(modules, 'cvmweb-driver-ok', driverSource('ok'));
    const env = { CVMWEB_DRIVER_MODULES: 'cvmweb-driver-hangs,cvmweb-driver-ok' };
    const started = Date.now();
    const drivers = await loadDriverPlugins({ env, cwd, stateDir, globalDirs: [globalDir], timeoutMs: 200 });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(drivers.map((d) => d.name)).toEqual(['cvmweb-driver-hangs', 'ok']);
    const hung = await probeOf(drivers[0]!);
    expect(hung).toMatchObject({
      installed: true,
      healthy: false,
      details: { codeName: 'EXTERNAL', timeoutMs: 200 },
    });
    expect(hung.reason).toContain('did not finish loading within 200 ms');

    const controller = new AbortController();
    const loading = loadDriverPlugins({
      env: { CVMWEB_DRIVER_MODULES: 'cvmweb-driver-hangs' },
      cwd,
      stateDir,
      globalDirs: [globalDir],
      signal: controller.signal,
    });
    controller.abort();
    const error = await loading.catch((e: unknown) => e);
    expect(isHypervisorError(error) && error.aborted && error.code).toBe(ErrorCode.CONTROL);
  });

  it('reads config.json after CVMWEB_DRIVER_MODULES; relative paths there start at the state directory', async () => {
    await writePackage(join(cwd, 'node_modules'), 'cvmweb-driver-env', driverSource('env'));
    await writePackage(globalDir, '@scope/cvmweb-driver-conf', driverSource('conf'));
    await writeFile(join(stateDir, 'local.mjs'), driverSource('local'));
    const config = join(stateDir, 'config.json');
    await writeFile(
      config,
      JSON.stringify({ drivers: ['@scope/cvmweb-driver-conf', './local.mjs', './gone.mjs'] }),
    );
    const drivers = await load({ CVMWEB_DRIVER_MODULES: 'cvmweb-driver-env' });
    expect(drivers.map((d) => d.name)).toEqual(['env', 'conf', 'local', './gone.mjs']);
    const gone = await probeOf(drivers[3]!);
    expect(gone).toMatchObject({ installed: false, details: { listedIn: config, codeName: 'NOT_FOUND' } });
    expect(gone.fix).toContain(`remove ./gone.mjs from ${config}`);
  });

  it('a driver whose name is taken is refused; the same file listed twice loads once', async () => {
    await writePackage(join(cwd, 'node_modules'), 'cvmweb-driver-kvm2', driverSource('kvm'));
    await writePackage(join(cwd, 'node_modules'), 'cvmweb-driver-twice', driverSource('twice'));
    await writeFile(join(stateDir, 'config.json'), JSON.stringify({ drivers: ['cvmweb-driver-twice'] }));
    const drivers = await load(
      { CVMWEB_DRIVER_MODULES: 'cvmweb-driver-kvm2,cvmweb-driver-twice' },
      { taken: ['kvm', 'mock'] },
    );
    expect(drivers.map((d) => d.name)).toEqual(['cvmweb-driver-kvm2', 'twice']);
    expect(await probeOf(drivers[0]!)).toMatchObject({
      installed: true,
      healthy: false,
      details: { codeName: 'NOT_VALIDATED', driver: 'kvm' },
    });
  });

  it('a bad config.json is an INVALID_USAGE error naming the file, not a crash', async () => {
    const config = join(stateDir, 'config.json');
    const failure = async () => {
      const error = await load({}).catch((e: unknown) => e);
      if (!isHypervisorError(error)) throw new Error(`expected a HypervisorError, got ${String(error)}`);
      return error;
    };
    for (const [text, field] of [
      ['{ "drivers": [', undefined],
      ['[]', undefined],
      ['{ "drivers": "cvmweb-driver-acme" }', 'drivers'],
      ['{ "drivers": ["ok", ""] }', 'drivers'],
      ['{ "drivers": [42] }', 'drivers'],
    ] as const) {
      await writeFile(config, text);
      const error = await failure();
      expect(error.code, text).toBe(ErrorCode.INVALID_USAGE);
      expect(error.message).toContain(config);
      expect(error.details).toEqual({ path: config, ...(field ? { field } : {}) });
    }
    await rm(config);
    await mkdir(config);
    expect(await failure()).toMatchObject({
      code: ErrorCode.INVALID_USAGE,
      message: expect.stringContaining('a directory'),
    });
    // A FIFO is refused without being opened for a blocking read (which would hang).
    await rm(config, { recursive: true });
    execFileSync('mkfifo', [config]);
    expect(await failure()).toMatchObject({
      code: ErrorCode.INVALID_USAGE,
      message: expect.stringContaining('a FIFO'),
    });
  });
});
