import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ActionOptions } from './action-options.js';
import { systemClock } from './clock/clock.js';
import { KeyedQueue } from './concurrency/keyed-queue.js';
import type { CvmwebEvents, CvmwebOptions, RequestSessionOptions } from './cvmweb-options.js';
import {
  type Daemon,
  type DaemonAccess,
  daemonAccess,
  defaultDaemonSettings,
} from './daemon/daemon-contract.js';
import type { Detection } from './detector/detection.js';
import type { GuardedDriver, GuardedHypervisor } from './driver/guarded-driver.js';
import { HypervisorError } from './errors/hypervisor-error.js';
import { TypedEmitter } from './events/typed-emitter.js';
import type { ImageCache } from './images/image-cache.js';
import { type DamagedRecord, describeDamagedRecord } from './registry/damaged-record.js';
import { hashSecret, verifySecret } from './registry/owner-secret.js';
import type { SessionRecord } from './registry/session-record.js';
import type { ReconcileOptions, ReconcileReport, SessionRegistry } from './registry/session-registry.js';
import { defaultRequirements } from './session/requirements.js';
import { Session } from './session/session.js';
import { deriveVmName, validateSessionName } from './session/session-names.js';
import { SessionState } from './state/session-state.js';

export {
  type CvmwebEvents,
  type CvmwebOptions,
  type CvmwebWarning,
  type RequestSessionOptions,
  USER_CATALOG_FILE,
} from './cvmweb-options.js';

/** What {@link createCvmweb} composes. */
interface CvmwebParts {
  guard: GuardedDriver;
  hypervisor: GuardedHypervisor;
  registry: SessionRegistry;
  ownsRegistry: boolean;
  images: ImageCache;
  detection: Detection | undefined;
  fallback: boolean;
  stateDir: string;
  options: CvmwebOptions;
}

/**
 * The entry point (the original plugin's object): the chosen hypervisor, the
 * session registry and the image cache composed. Create it with
 * {@link createCvmweb}.
 */
export class Cvmweb extends TypedEmitter<CvmwebEvents> {
  /** The detection that chose the driver (absent when a driver was given). */
  readonly detection: Detection | undefined;
  /** True when no real hypervisor was usable and the fallback driver runs. */
  readonly fallback: boolean;
  /** The session registry. */
  readonly registry: SessionRegistry;
  /** The image cache. */
  readonly images: ImageCache;
  readonly #guard: GuardedDriver;
  readonly #hypervisor: GuardedHypervisor;
  readonly #options: CvmwebOptions;
  readonly #stateDir: string;
  readonly #sessions = new Map<string, Session>();
  /** Requests of one name (scope and name) run one at a time. */
  readonly #requests = new KeyedQueue<string>();
  readonly #ownsRegistry: boolean;
  #disposed = false;
  #daemon: Daemon | undefined;
  readonly #unwatch: () => void;

  /** @internal Made by {@link createCvmweb}, the only way users get one. */
  static create(init: CvmwebParts): Cvmweb {
    return new Cvmweb(init);
  }

  // Private: users call createCvmweb(), and the shipped .d.ts says so.
  private constructor(init: CvmwebParts) {
    super();
    this.#guard = init.guard;
    this.#hypervisor = init.hypervisor;
    this.registry = init.registry;
    this.#ownsRegistry = init.ownsRegistry;
    this.images = init.images;
    this.detection = init.detection;
    this.fallback = init.fallback;
    this.#stateDir = init.stateDir;
    this.#options = init.options;
    this.#daemon = init.options.daemon;
    const { onWarning } = init.options;
    if (onWarning) {
      this.on('warning', (warning) => {
        try {
          onWarning(warning);
        } catch {
          // A listener's failure must not break the entry point.
        }
      });
    }
    // A VM the driver names is re-read; after a gap in its events (a resync), every session's VM.
    const refresh = (which: (vmId: string) => boolean) => {
      for (const session of this.#sessions.values()) {
        const { vmId } = session.record;
        if (vmId !== undefined && which(vmId)) void session.refresh().catch(() => undefined);
      }
    };
    this.#unwatch = init.hypervisor.watch(
      (vmId) => refresh((id) => id === vmId),
      () => refresh(() => true),
    );
  }

  /**
   * Attaches the daemon that runs in this process (it needs this instance to
   * find its sessions, so it is often made after it). Replaces any earlier one.
   */
  attachDaemon(daemon: Daemon): void {
    this.#live();
    this.#daemon = daemon;
  }

  /** The hypervisor's driver name (original plugin: `hypervisorName`), e.g. `kvm`, `virtualbox`, `mock`. */
  get hypervisorName(): string {
    return this.#hypervisor.name;
  }

  /** The hypervisor's version (original plugin: `hypervisorVersion`). */
  get hypervisorVersion(): string {
    return this.#hypervisor.version;
  }

  /** The connected hypervisor behind the runtime guard. */
  get hypervisor(): GuardedHypervisor {
    return this.#hypervisor;
  }

  /** The state directory. */
  get stateDir(): string {
    return this.#stateDir;
  }

  /**
   * The session records that could not be loaded ({@link SessionRegistry.damaged}). Each keeps
   * its name reserved: {@link Cvmweb.requestSession} rejects it with `INVALID_STATE`.
   */
  damaged(): readonly DamagedRecord[] {
    return this.registry.damaged();
  }

  /**
   * Gets the session `name` (original plugin: `requestSession`). The first requester owns
   * the name: its secret key is stored as a salted scrypt hash. Later requests
   * must present the same key, or reject with `PASSWORD_DENIED` (-20) and learn
   * nothing else. Concurrent requests of one new name create it once. A new name that a
   * damaged record may hold (see {@link Cvmweb.damaged}) rejects with `INVALID_STATE` (-8),
   * details `{ reason: 'damaged-record' }`, until the owner of this computer repairs or removes it.
   */
  requestSession(name: string, secretKey: string, options: RequestSessionOptions = {}): Promise<Session> {
    try {
      this.#live();
      validateSessionName(name);
      if (typeof secretKey !== 'string' || secretKey.length === 0 || secretKey.length > 256) {
        throw new HypervisorError('INVALID_USAGE', 'a secret key is a string of 1 to 256 characters', {
          details: { field: 'secretKey' },
        });
      }
    } catch (error) {
      return Promise.reject(error);
    }
    const scope = options.scope ?? 'local';
    // One request per name at a time, so two first requesters cannot both become owners.
    return this.#requests.run(`${scope}\0${name}`, () => this.#request(scope, name, secretKey, options), {
      signal: options.signal,
      what: 'the session request',
    });
  }

  async #request(scope: string, name: string, secretKey: string, options: ActionOptions): Promise<Session> {
    const existing = this.registry.find(scope, name);
    if (existing) {
      if (!(await verifySecret(secretKey, existing.owner))) {
        throw new HypervisorError('PASSWORD_DENIED', 'the secret key does not match this session');
      }
      return (await this.session(existing.id, options)) ?? this.#sessionFor(existing);
    }
    // The registry refuses a name a damaged record may hold (INVALID_STATE, reason damaged-record).
    const now = (this.#options.clock ?? systemClock).now();
    const id = randomUUID();
    const record: SessionRecord = {
      id,
      scope,
      name,
      vmName: deriveVmName(scope, name, id),
      owner: await hashSecret(secretKey, this.#options.secretCost),
      requirements: defaultRequirements,
      properties: {},
      daemon: defaultDaemonSettings,
      executionCap: 100,
      state: SessionState.Closed,
      hibernated: false,
      stoppedByUser: false,
      createdAt: now,
      updatedAt: now,
    };
    await this.registry.put(record, options);
    return this.#sessionFor(record);
  }

  /** The live session object of a record, made on first use. */
  #sessionFor(record: SessionRecord): Session {
    let session = this.#sessions.get(record.id);
    if (!session) {
      session = Session.create(
        {
          hypervisor: this.#hypervisor,
          registry: this.registry,
          clock: this.#options.clock ?? systemClock,
          vmRoot: join(this.#stateDir, 'vms'),
          image: (version) => this.images.source(version),
          ...(this.#options.apiTiming ? { apiTiming: this.#options.apiTiming } : {}),
          ...(this.#options.stopTimeoutMs ? { stopTimeoutMs: this.#options.stopTimeoutMs } : {}),
        },
        record,
      );
      this.#sessions.set(record.id, session);
      this.emit('session', session);
    }
    return session;
  }

  /**
   * A session by id, without a secret: for trusted local callers (the daemon,
   * the CLI, a privileged bridge origin). Attaches the driver's VM handle.
   */
  async session(id: string, options?: ActionOptions): Promise<Session | undefined> {
    this.#live();
    const record = this.registry.get(id);
    if (!record) return undefined;
    const known = this.#sessions.has(id);
    const session = this.#sessionFor(record);
    if (!known && record.vmId && record.driver === this.hypervisorName) {
      session.attachVm(await this.#hypervisor.findVm(record.vmId, options));
    }
    return session;
  }

  /** Every session record, or those of one scope. */
  sessions(scope?: string): SessionRecord[] {
    const all = this.registry.list();
    return scope === undefined ? all : all.filter((record) => record.scope === scope);
  }

  /**
   * Access to the daemon (original plugin: `requestDaemonAccess`). Rejects with
   * `NOT_IMPLEMENTED` (-100) when no daemon runs in this process.
   */
  async requestDaemonAccess(options: { privileged?: boolean } = {}): Promise<DaemonAccess> {
    this.#live();
    const daemon = this.#daemon;
    if (!daemon) throw new HypervisorError('NOT_IMPLEMENTED', 'no daemon runs with this cvmweb instance');
    return daemonAccess(daemon, options.privileged ?? false);
  }

  /**
   * Compares the registry with the hypervisor after a restart (see
   * {@link SessionRegistry.reconcile}), then brings live session objects up to
   * date: a session whose VM vanished fires `error` and is `Closed`. Each damaged session record
   * is reported again as a `warning` event, with the VMs kept for it (`report.kept`).
   */
  async reconcile(options?: ReconcileOptions): Promise<ReconcileReport> {
    this.#live();
    const report = await this.registry.reconcile(this.#hypervisor.inner, options);
    for (const damaged of this.registry.damaged()) {
      const keptVms = report.kept
        .filter((vm) => vm.sessionId !== '' && vm.sessionId === damaged.id)
        .map((vm) => vm.name);
      const kept = keptVms.length ? ` (VMs kept: ${keptVms.join(', ')})` : '';
      this.emit('warning', { message: `${describeDamagedRecord(damaged)}${kept}`, damaged, keptVms });
    }
    for (const record of [...report.vanished, ...report.rolledBack]) {
      await rm(join(this.#stateDir, 'vms', record.id), { recursive: true, force: true });
    }
    for (const record of [...report.vanished, ...report.updated, ...report.rolledBack]) {
      const session = this.#sessions.get(record.id);
      const current = this.registry.get(record.id);
      if (!session || !current) continue;
      const vanished = report.vanished.includes(record);
      session.adopt(
        current,
        vanished ? { message: 'the virtual machine disappeared from the hypervisor', code: -9 } : undefined,
      );
      if (current.vmId) session.attachVm(await this.#hypervisor.findVm(current.vmId, options));
    }
    return report;
  }

  /**
   * Releases the driver connection and the registry lock. VMs keep running;
   * a later process re-attaches to them through the registry.
   */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#unwatch();
    for (const session of this.#sessions.values()) session.detach();
    await this.#guard.dispose();
    if (this.#ownsRegistry) await this.registry.close();
  }

  #live(): void {
    if (this.#disposed) throw new HypervisorError('INVALID_STATE', 'this cvmweb instance was disposed');
  }
}
