import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { openSessionRegistry, SessionState } from '@cvmweb/core';
import { createMockHypervisor } from '@cvmweb/driver-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { connectClient, startTestBridge } from '../../test/bridge-test-support.js';
import type { CVMWebBridge } from '../client/cvmweb-bridge.js';
import { packageRoot } from './client-bundle.js';

const PAGE = 'http://page.example';

describe('restart', () => {
  it('a graceful bridge restart keeps running VMs; the client reconnects and resyncs without consent', async () => {
    const state = createMockHypervisor();
    const policy = { origins: { [PAGE]: 'allow' as const } };
    const first = await startTestBridge({ state, policy });
    const { port } = first.service;
    const client = await connectClient(port, PAGE);
    const session = await client.requestSession('keep', 'k');
    await session.open();
    await session.start();
    const events: string[] = [];
    client.addEventListener('disconnect', () => events.push('disconnect'));
    client.addEventListener('reconnect', () => events.push('reconnect'));
    await first.close(true);
    await expect.poll(() => events, { timeout: 10_000 }).toContain('disconnect');
    expect(state.vms().map((vm) => vm.state)).toEqual(['running']);
    const second = await startTestBridge({ state, policy: {}, stateDir: first.stateDir, port });
    try {
      await expect.poll(() => events, { timeout: 10_000 }).toContain('reconnect');
      expect(session.state).toBe(SessionState.Started);
      expect(second.service.consent.pending()).toEqual([]);
      await session.pause();
      expect(session.state).toBe(SessionState.Paused);
    } finally {
      client.close();
      await second.close();
    }
  });
});

/** The service as a separate process, stopped by the pid in its pid file. */
class ServiceProcess {
  readonly child: ChildProcess;
  readonly ready: Promise<{
    port: number;
    report: { vanished: number; rolledBack: number; updated: number; orphans: number };
  }>;
  constructor(
    script: string,
    stateDir: string,
    port: number,
    readonly pidFile: string,
    hang = false,
  ) {
    this.child = spawn(process.execPath, [script, stateDir, String(port), pidFile], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, CVMWEB_CRASH_HANG: hang ? '1' : '' },
    });
    const lines = createInterface({ input: this.child.stdout! });
    this.ready = new Promise((resolve, reject) => {
      lines.once('line', (line) => {
        readFile(pidFile, 'utf8').then((pid) => {
          this.pid = Number(pid);
          resolve(JSON.parse(line));
        }, reject);
      });
      this.child.once('exit', (code) => reject(new Error(`service exited with ${code}`)));
    });
  }
  pid: number | undefined;
  async kill(signal: NodeJS.Signals): Promise<number | null> {
    this.pid ??= Number(await readFile(this.pidFile, 'utf8'));
    const pid = this.pid;
    const exited = new Promise<number | null>((resolve) => this.child.once('exit', (code) => resolve(code)));
    process.kill(pid, signal);
    return exited;
  }
}

const children: ServiceProcess[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.child.exitCode === null && child.child.signalCode === null) await child.kill('SIGKILL');
  }
});

const childScript = (root: string) => {
  const url = (p: string) => JSON.stringify(pathToFileURL(join(root, p)).href);
  return `
import { writeFileSync } from 'node:fs';
const { createCvmweb, TEST_SCRYPT_COST } = await import(${url('../core/dist/index.js')});
const { mock } = await import(${url('../driver-mock/dist/index.js')});
const { BridgeService, PolicyStore } = await import(${url('dist/index.js')});
const [stateDir, port, pidFile] = process.argv.slice(2);
// The first run's second VM creation hangs: the service is killed while that session is Opening.
const faults = process.env.CVMWEB_CRASH_HANG ? [{ step: 'create', nth: 2, hang: true }] : [];
const cvmweb = await createCvmweb({ driver: mock({ faults }), stateDir, secretCost: TEST_SCRYPT_COST });
const report = await cvmweb.reconcile();
const policy = await PolicyStore.open({ initial: { origins: { '${PAGE}': 'allow' }, limits: { sessions: 10, names: 20 } } });
const service = new BridgeService({ cvmweb, port: Number(port), policy });
await service.start();
writeFileSync(pidFile, String(process.pid));
const count = (list) => list.length;
process.stdout.write(JSON.stringify({ port: service.port, report: { vanished: count(report.vanished), rolledBack: count(report.rolledBack), updated: count(report.updated), orphans: count(report.orphans) } }) + '\\n');
const stop = async () => { await service.stop(); await cvmweb.dispose(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
`;
};

describe.skipIf(!existsSync(join(packageRoot(), 'dist', 'index.js')))('crash', () => {
  it('kill -9 while sessions open and run: a restart reconciles every session, nothing leaks, clients re-attach', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cvmweb-crash-'));
    const stateDir = join(dir, 'state');
    const pidFile = join(dir, 'service.pid');
    const script = join(dir, 'service.mjs');
    await writeFile(script, childScript(packageRoot()));
    let client: CVMWebBridge | undefined;
    try {
      const first = new ServiceProcess(script, stateDir, 0, pidFile, true);
      children.push(first);
      const { port } = await first.ready;
      client = await connectClient(port, PAGE);
      const reconnected = new Promise<void>((resolve) =>
        client!.addEventListener('reconnect', () => resolve()),
      );
      const running = await client.requestSession('running', 'k');
      await running.open();
      await running.start();
      const opening = await client.requestSession('opening', 'k');
      const interrupted = opening.open().then(
        () => 'resolved',
        (error: { code: number }) => error.code,
      );
      await expect.poll(() => opening.state, { timeout: 10_000 }).toBe(SessionState.Opening);
      expect(await first.kill('SIGKILL')).toBeNull();
      expect(await interrupted).toBe(-6);

      const second = new ServiceProcess(script, stateDir, port, pidFile);
      children.push(second);
      const { report } = await second.ready;
      expect(report.vanished + report.rolledBack + report.updated).toBe(2);
      await reconnected;
      // The mock hypervisor died with the process: both sessions are Closed, and say so.
      expect(running.state).toBe(SessionState.Closed);
      expect(opening.state).toBe(SessionState.Closed);
      // The re-attached client drives its session again.
      await opening.open({ cpus: 1 });
      expect(opening.state).toBe(SessionState.Open);
      expect(await second.kill('SIGTERM')).toBe(0);
      const registry = await openSessionRegistry({ directory: stateDir, readOnly: true });
      const records = registry.list();
      await registry.close();
      expect(records).toHaveLength(2);
      for (const record of records) expect(record.pending).toBeUndefined();
      const byName = Object.fromEntries(records.map((r) => [r.name, r]));
      expect(byName['running']).toMatchObject({ state: SessionState.Closed });
      expect(byName['running']!.vmId).toBeUndefined();
      expect(byName['opening']).toMatchObject({ state: SessionState.Open, requirements: { cpus: 1 } });
      expect(existsSync(join(stateDir, 'registry.lock'))).toBe(false);
    } finally {
      client?.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
