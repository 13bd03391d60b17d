import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ImageEntry, openSessionRegistry, SessionState } from '@cvmweb/core';
import { deriveVmName } from '@cvmweb/core/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  alive,
  childrenOf,
  domState,
  FileServer,
  httpGet,
  killPid,
  leftovers,
  libvirtUnavailable,
  lockLibvirt,
  portClosed,
  purge,
  ServiceProcess,
  type ServiceReady,
  serviceScript,
  testGuestEntry,
  writeVirshWrapper,
} from '../../test/bridge-kvm-support.js';
import { connectClient } from '../../test/bridge-test-support.js';
import type { CVMWebBridge } from '../client/cvmweb-bridge.js';
import type { CVMWebSession } from '../client/cvmweb-session.js';

// The web bridge on the real KVM driver: the service runs in a child process (so it can be
// killed with SIGKILL), boots the test guest (scripts/build-test-guest.sh) from an image served
// with its sha256 to core's ImageCache, and a page's client drives it across service crashes.
const unavailable = await libvirtUnavailable();

const PAGE = 'http://bridge-kvm.example';
const KEY = 'bridge-kvm-key';
/** Every domain and volume of these tests starts with this (session names start with `bkvm-`). */
const PREFIX = 'cvmweb-bkvm-';
const USER_DATA = '[cernvm]\nusers=tester:users:s3cr3t\n# bridge on kvm <&> "quoted" \u00e9\n';
const GUEST = { cpus: 1, ram: 128, disk: 0, version: 'test-kernel' } as const;
const LIFECYCLE_EVENTS = [
  'pause',
  'resume',
  'stop',
  'close',
  'stateChanged',
  'error',
  'apiAvailable',
] as const;

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
    }),
  ]);
}

interface Booted {
  readonly session: CVMWebSession;
  readonly vmName: string;
  readonly apiURL: string;
  readonly apiPort: number;
  /** Event names (and stateChanged arguments) the client saw, in order. */
  readonly events: string[];
}

describe.skipIf(unavailable !== undefined)(
  `web bridge on the KVM driver${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    let server: FileServer;
    let dir: string;
    let entry: ImageEntry;
    let script: string;
    let virshWrapper: string;
    const services: ServiceProcess[] = [];
    const clients: CVMWebBridge[] = [];
    /** Processes the services started that must not outlive the test (killed by pid in afterEach). */
    const strays = new Set<number>();
    /** Pid files of hanging virsh wrappers (read again in afterEach, in case a test failed early). */
    const hangPidFiles: string[] = [];

    let release: () => Promise<void> = async () => undefined;

    beforeAll(async () => {
      // The lock driver-kvm's real-libvirt tests share: a libvirtd restart test waits for us.
      release = await lockLibvirt('shared');
      await purge(PREFIX);
      server = await new FileServer().start();
      dir = await mkdtemp(join(tmpdir(), 'cvmweb-bridge-kvm-'));
      entry = await testGuestEntry(server);
      script = join(dir, 'service.mjs');
      await writeFile(script, serviceScript());
      virshWrapper = await writeVirshWrapper(dir);
    }, 15 * 60_000);

    afterAll(async () => {
      await purge(PREFIX);
      await server?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
      await release();
    }, 120_000);

    afterEach(async () => {
      for (const client of clients.splice(0)) client.close();
      for (const service of services.splice(0)) if (service.running) await service.kill('SIGKILL');
      for (const file of hangPidFiles.splice(0)) {
        const pid = Number(await readFile(file, 'utf8').catch(() => ''));
        if (pid > 0) strays.add(pid);
      }
      for (const pid of strays) killPid(pid);
      strays.clear();
      await purge(PREFIX);
    }, 120_000);

    /** A fresh state directory whose policy file allows {@link PAGE}. */
    const stateFor = async (name: string) => {
      const stateDir = join(dir, name, 'state');
      await mkdir(stateDir, { recursive: true });
      const policyFile = join(stateDir, 'bridge-policy.json');
      await writePolicy(policyFile, 'allow');
      return { stateDir, policyFile };
    };
    const writePolicy = (file: string, decision: 'allow' | 'ask') =>
      writeFile(
        file,
        JSON.stringify({
          version: 1,
          origins: decision === 'allow' ? { [PAGE]: 'allow' } : {},
          limits: { cpus: 1, ram: 256, disk: 64, sessions: 2, names: 4 },
        }),
      );

    const startService = async (
      stateDir: string,
      policyFile: string,
      port: number,
      hang?: { volume: string; pidFile: string },
    ): Promise<{ service: ServiceProcess } & ServiceReady> => {
      const service = new ServiceProcess(script, {
        stateDir,
        port,
        pidFile: join(stateDir, '..', 'service.pid'),
        policyFile,
        imageDir: join(dir, 'images'),
        entries: [entry],
        virsh: virshWrapper,
        ...(hang ? { hangOnVolume: hang.volume, hangPidFile: hang.pidFile } : {}),
      });
      services.push(service);
      const ready = await withTimeout(service.ready, 120_000, 'the service to listen');
      expect(ready.hypervisorName).toBe('kvm');
      expect(service.pid).toBe(service.child.pid);
      return { service, ...ready };
    };

    const connect = async (port: number) => {
      const client = await connectClient(port, PAGE);
      clients.push(client);
      expect(client.hypervisorName).toBe('kvm');
      const log = { disconnects: 0, reconnects: 0 };
      client.addEventListener('disconnect', () => log.disconnects++);
      client.addEventListener('reconnect', () => log.reconnects++);
      return { client, log };
    };

    /** Requests, opens and starts a session; waits for apiAvailable and reads the user data back. */
    const boot = async (client: CVMWebBridge, name: string): Promise<Booted> => {
      const session = await client.requestSession(name, KEY);
      const events: string[] = [];
      for (const event of LIFECYCLE_EVENTS) {
        session.addEventListener(event, (...args: unknown[]) =>
          events.push(event === 'stateChanged' || event === 'error' ? `${event}(${args.join(',')})` : event),
        );
      }
      const api = new Promise<string>((resolve) =>
        session.addEventListener('apiAvailable', (_ip, url) => resolve(url)),
      );
      await session.open(GUEST);
      expect(session.state).toBe(SessionState.Open);
      const vmName = deriveVmName(PAGE, name, session.id);
      expect(await domState(vmName)).toBe('shut off');
      await session.start(USER_DATA);
      expect(session.state).toBe(SessionState.Started);
      expect(await domState(vmName)).toBe('running');
      const apiURL = await withTimeout(api, 180_000, `apiAvailable of ${name}`);
      expect(session.apiURL).toBe(apiURL);
      expect(await httpGet(new URL('user-data', apiURL).href, 10_000)).toBe(USER_DATA);
      return { session, vmName, apiURL, apiPort: Number(new URL(apiURL).port), events };
    };

    /** kill -9 of the service; the client notices. Returns the service's children at the time. */
    const crash = async (service: ServiceProcess, log: { disconnects: number }, except: number[] = []) => {
      const children = childrenOf(service.pid!).filter((c) => !except.includes(c.pid));
      for (const child of children) strays.add(child.pid);
      expect(await service.kill('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
      await expect
        .poll(() => log.disconnects, { timeout: 30_000, message: 'the client notices the crash' })
        .toBe(1);
      return children;
    };

    /** Children of a killed service (the persistent virsh channel) end by themselves. */
    const childrenEnd = (children: { pid: number; command: string }[]) =>
      expect
        .poll(() => children.filter((c) => alive(c.pid)), {
          timeout: 30_000,
          message: 'children of the killed service still run',
        })
        .toEqual([]);

    /** After the restart: the re-attached client drives its running session to the end. */
    const driveToClosed = async (booted: Booted) => {
      const { session, vmName, apiURL, apiPort } = booted;
      const userData = new URL('user-data', apiURL).href;
      expect(session.state).toBe(SessionState.Started);
      // Properties stay current: the restarted service finds the API again and pushes it.
      await expect
        .poll(() => session.apiURL, { timeout: 60_000, message: 'apiURL is pushed again after the restart' })
        .toBe(apiURL);
      booted.events.length = 0;
      await session.pause();
      expect(session.state).toBe(SessionState.Paused);
      expect(await domState(vmName)).toBe('paused');
      await session.resume();
      expect(session.state).toBe(SessionState.Started);
      expect(await domState(vmName)).toBe('running');
      await expect
        .poll(() => httpGet(userData), { timeout: 60_000, message: 'the guest answers after resume' })
        .toBe(USER_DATA);
      await session.stop();
      expect(session.state).toBe(SessionState.Open);
      expect(await domState(vmName)).toBe('shut off');
      await session.close();
      expect(session.state).toBe(SessionState.Closed);
      expect(booted.events.filter((e) => ['pause', 'resume', 'stop', 'close'].includes(e))).toEqual([
        'pause',
        'resume',
        'stop',
        'close',
      ]);
      expect(booted.events.filter((e) => e.startsWith('error'))).toEqual([]);
      expect(await leftovers(vmName)).toEqual([]);
      expect(await portClosed(apiPort)).toBe(true);
    };

    /** SIGTERM by pid: a clean exit, the port freed, every record closed, nothing of the test left. */
    const finish = async (service: ServiceProcess, stateDir: string, port: number, sessions: number) => {
      expect(await service.kill('SIGTERM')).toEqual({ code: 0, signal: null });
      expect(await portClosed(port)).toBe(true);
      const registry = await openSessionRegistry({ directory: stateDir, readOnly: true });
      const records = registry.list();
      await registry.close();
      expect(records).toHaveLength(sessions);
      for (const record of records) {
        expect(record).toMatchObject({ state: SessionState.Closed, hibernated: false });
        expect(record.pending).toBeUndefined();
        expect(record.vmId).toBeUndefined();
        expect(existsSync(join(stateDir, 'vms', record.id))).toBe(false);
      }
      expect(existsSync(join(stateDir, 'registry.lock'))).toBe(false);
      expect(await leftovers(PREFIX)).toEqual([]);
    };

    it('kill -9 while the VM runs: the VM keeps running, the restart reconciles it as Started, the page re-attaches without consent and drives it to the end', async () => {
      const { stateDir, policyFile } = await stateFor('running');
      const first = await startService(stateDir, policyFile, 0);
      const { port } = first;
      const { client, log } = await connect(port);
      const booted = await boot(client, 'bkvm-run-1');

      booted.events.length = 0;
      const children = await crash(first.service, log);
      // The VM does not depend on the service: still running, its API still answers.
      expect(await domState(booted.vmName)).toBe('running');
      expect(await httpGet(new URL('user-data', booted.apiURL).href, 10_000)).toBe(USER_DATA);
      await childrenEnd(children);

      // The origin is no longer allowed outright: re-attaching must not need consent.
      await writePolicy(policyFile, 'ask');
      const second = await startService(stateDir, policyFile, port);
      expect(second.port).toBe(port);
      expect(second.report.vanished).toEqual([]);
      expect(second.report.rolledBack).toEqual([]);
      expect(second.report.updated).toEqual([]);
      expect(second.report.orphans.filter((name) => name.startsWith(PREFIX))).toEqual([]);
      expect(await domState(booted.vmName)).toBe('running');
      await expect.poll(() => log.reconnects, { timeout: 60_000, message: 'the client reconnects' }).toBe(1);
      expect(second.service.lines).toEqual([]);
      expect(booted.events.filter((e) => e.startsWith('stateChanged') || e.startsWith('error'))).toEqual([]);

      await driveToClosed(booted);

      // Consent was not needed because it was a re-attach: a new name of the origin asks the person.
      await expect(client.requestSession('bkvm-fresh', KEY)).rejects.toMatchObject({ code: -10 });
      expect(second.service.lines).toEqual([{ consent: PAGE, names: ['bkvm-fresh'] }]);

      await finish(second.service, stateDir, port, 1);
    }, 300_000);

    it('kill -9 while another session is opening: the open is rolled back on libvirt, the running VM survives, the page drives both again', async () => {
      const { stateDir, policyFile } = await stateFor('opening');
      const hangPidFile = join(dir, 'opening', 'hang.pid');
      hangPidFiles.push(hangPidFile);
      // The wrapper hangs creating the opening session's scratch disk: its domain is defined by then.
      const first = await startService(stateDir, policyFile, 0, {
        volume: `${PREFIX}opening-`,
        pidFile: hangPidFile,
      });
      const { port } = first;
      const { client, log } = await connect(port);
      const booted = await boot(client, 'bkvm-run-2');

      const opening = await client.requestSession('bkvm-opening', KEY);
      const openingVm = deriveVmName(PAGE, 'bkvm-opening', opening.id);
      const openingEvents: string[] = [];
      opening.addEventListener('stateChanged', (state, previous) =>
        openingEvents.push(`stateChanged(${state},${previous})`),
      );
      const interrupted = opening.open({ ...GUEST, disk: 16 }).then(
        () => 'resolved',
        (error: { code: number; codeName: string }) => error.codeName,
      );
      await expect
        .poll(() => existsSync(hangPidFile), {
          timeout: 120_000,
          message: 'the open reaches the scratch disk',
        })
        .toBe(true);
      const hangPid = Number(await readFile(hangPidFile, 'utf8'));
      strays.add(hangPid);
      expect(opening.state).toBe(SessionState.Opening);
      expect(await domState(openingVm)).toBe('shut off');
      expect(existsSync(join(stateDir, 'vms', opening.id))).toBe(true);

      booted.events.length = 0;
      openingEvents.length = 0;
      const children = await crash(first.service, log, [hangPid]);
      expect(await interrupted).toBe('IO');
      // The driver's virsh call the crash cut short (the hanging wrapper) is stopped by its pid.
      killPid(hangPid);
      await expect
        .poll(() => alive(hangPid), { timeout: 10_000, message: 'the hanging virsh ends' })
        .toBe(false);
      await childrenEnd(children);
      expect(await domState(booted.vmName)).toBe('running');

      await writePolicy(policyFile, 'ask');
      const second = await startService(stateDir, policyFile, port);
      expect(second.report.rolledBack).toEqual([opening.id]);
      expect(second.report.vanished).toEqual([]);
      expect(second.report.updated).toEqual([]);
      expect(second.report.orphans.filter((name) => name.startsWith(PREFIX))).toEqual([]);
      // The half-made VM is gone from libvirt, with its volumes and session files.
      expect(await leftovers(openingVm)).toEqual([]);
      expect(existsSync(join(stateDir, 'vms', opening.id))).toBe(false);
      expect(await domState(booted.vmName)).toBe('running');

      await expect.poll(() => log.reconnects, { timeout: 60_000, message: 'the client reconnects' }).toBe(1);
      expect(second.service.lines).toEqual([]);
      expect(opening.state).toBe(SessionState.Closed);
      expect(openingEvents).toEqual([`stateChanged(${SessionState.Closed},${SessionState.Opening})`]);
      expect(booted.events.filter((e) => e.startsWith('stateChanged') || e.startsWith('error'))).toEqual([]);

      await driveToClosed(booted);

      // The rolled-back session is usable again.
      await opening.open({ ...GUEST, disk: 16 });
      expect(opening.state).toBe(SessionState.Open);
      expect(await domState(openingVm)).toBe('shut off');
      // Its scratch disk, named by the VM and the installation (`<vm>.<tag>.scratch.qcow2`).
      expect((await leftovers(openingVm)).filter((name) => name.endsWith('.scratch.qcow2'))).toHaveLength(1);
      await opening.close();
      expect(opening.state).toBe(SessionState.Closed);
      expect(await leftovers(openingVm)).toEqual([]);
      expect(second.service.lines).toEqual([]);

      await finish(second.service, stateDir, port, 2);
    }, 300_000);
  },
);
