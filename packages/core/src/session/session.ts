import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ApiWatchTiming } from '../api/api-watcher.js';
import type { Clock } from '../clock/clock.js';
import {
  buildContextMedium,
  CONTEXT_MEDIUM_FILE_NAME,
  MAX_USER_DATA_BYTES,
} from '../context/build-context-medium.js';
import type { ContextFormat, ContextMedium } from '../context/context-medium.js';
import { expandPlaceholders } from '../context/expand-placeholders.js';
import { validateDaemonSettings } from '../daemon/daemon-contract.js';
import type { ActionOptions, VmPowerState } from '../driver/driver.js';
import type { GuardedHypervisor, GuardedVm } from '../driver/guarded-driver.js';
import { ErrorCode } from '../errors/error-code.js';
import { HypervisorError, isHypervisorError, toHypervisorError } from '../errors/hypervisor-error.js';
import { TypedEmitter } from '../events/typed-emitter.js';
import type { ImageSource } from '../images/image-source.js';
import type { DaemonSettings, Requirements, SessionRecord } from '../registry/session-record.js';
import type { SessionRegistry } from '../registry/session-registry.js';
import { assertLegal, landingState, type SessionAction } from '../state/action-table.js';
import { sessionStateForPower } from '../state/power-state.js';
import { SessionState, type SessionStateValue } from '../state/session-state.js';
import { ActionQueue } from './action-queue.js';
import { keepBootUserData, readBootUserData } from './boot-user-data.js';
import { ProgressCounter } from './progress-counter.js';
import { RequestedValues } from './requested-values.js';
import { requireCapability } from './require-capability.js';
import { validateExecutionCap, validateRequirements } from './requirements.js';
import { SessionApiWatch } from './session-api-watch.js';
import type { ActionErrorEvent, SessionEvents } from './session-events.js';
import { propertyLimits, validatePropertyKey, validatePropertyValue } from './session-names.js';
import type { SessionActionOptions, StartOptions } from './session-options.js';
import { unrequestedFailure } from './unrequested-failure.js';

/** A change of the session record, or a function making one from the latest record. */
type RecordChange = Partial<SessionRecord> | ((record: SessionRecord) => Partial<SessionRecord>);

/** What a session needs from the entry point that made it. @internal */
export interface SessionContext {
  readonly hypervisor: GuardedHypervisor;
  readonly registry: SessionRegistry;
  readonly clock: Clock;
  /** Directory under which each VM gets its own directory. */
  readonly vmRoot: string;
  readonly image: (version: string) => ImageSource;
  readonly apiTiming?: ApiWatchTiming;
  readonly stopTimeoutMs?: number;
}

/**
 * One computation session (seed: the session object): a VM owned by whoever
 * requested the name first, driven through the seed's functions, observed
 * through the seed's events.
 *
 * Decisions where the seed is vague:
 * - Every function returns a promise that settles when the action has finished
 *   (the seed returned 1 and fired an event later; both the promise and the
 *   event happen here).
 * - Actions of one session run one at a time, in call order: a call made while
 *   another runs waits its turn, and is checked against the state when its turn
 *   comes. So `open(); start(data)` without awaiting works.
 * - An action not legal in the current state rejects with `INVALID_STATE` (-8)
 *   and changes nothing; bad arguments reject with `INVALID_USAGE` (-99) at call
 *   time. Neither fires an event (the seed returned them as codes). A failure of
 *   the hypervisor fires `<action>Error(message, code)` and `error(message, code, action)`.
 * - A hibernated session is `Open` with {@link Session.hibernated} `true`; `start()` restores it.
 * - Setters are seen at once: right after `setExecutionCap(50)` or `setDaemonSettings()` returns,
 *   {@link Session.executionCap} and the daemon fields give the requested values (as the seed's
 *   README shows), with a `changed` event; if the action fails they return to the previous values,
 *   with another `changed` event, before the error events fire. {@link Session.record} stays the
 *   persisted record. `getProperty` runs in turn after an earlier `setProperty`, so it reads
 *   what was set.
 * - `getProperty` of an unset property gives `''`. Properties and the execution cap work in
 *   every state, `Closed` included (they live in the registry; without a VM a cap waits for the
 *   next `open()`).
 * - An action aborted by its signal rejects with `CONTROL` (-3) and `aborted: true`; while
 *   still queued it changes nothing, while running the driver rolls back what it made.
 */
export class Session extends TypedEmitter<SessionEvents> {
  readonly #context: SessionContext;
  #record: SessionRecord;
  #vm: GuardedVm | undefined;
  readonly #queue = new ActionQueue();
  /** Setters' values shown at once, until their action settles. */
  readonly #requested = new RequestedValues<Pick<SessionRecord, 'executionCap' | 'daemon'>>(
    () => this.#record,
    () => this.emit('changed'),
  );
  readonly #api: SessionApiWatch;
  #writes: Promise<unknown> = Promise.resolve();

  /** @internal Made by the entry point's `requestSession()`. */
  constructor(context: SessionContext, record: SessionRecord) {
    super();
    this.#context = context;
    this.#record = record;
    this.#api = new SessionApiWatch({
      clock: context.clock,
      timing: context.apiTiming,
      forwarding: context.hypervisor.capabilities.apiPortForwarding,
      onAvailable: (ip, url) => this.emit('apiAvailable', ip, url),
      onUnavailable: () => this.emit('apiUnavailable'),
    });
  }

  /** The session's stable id. */
  get id(): string {
    return this.#record.id;
  }
  /** The name given to `requestSession()`. */
  get name(): string {
    return this.#record.name;
  }
  /** Who the session belongs to: `local`, or a page's origin. */
  get scope(): string {
    return this.#record.scope;
  }
  /** The hypervisor-side VM name derived from the name. */
  get vmName(): string {
    return this.#record.vmName;
  }
  /** The state (seed Appendix D). */
  get state(): SessionStateValue {
    return this.#record.state;
  }
  /** The VM's memory is saved; `start()` restores it. */
  get hibernated(): boolean {
    return this.#record.hibernated;
  }
  /** An action is running or queued. */
  get busy(): boolean {
    return this.#queue.busy;
  }
  /** Virtual CPUs. */
  get cpus(): number {
    return this.#record.requirements.cpus;
  }
  /** Memory, MiB. */
  get ram(): number {
    return this.#record.requirements.ram;
  }
  /** Scratch disk, MiB. */
  get disk(): number {
    return this.#record.requirements.disk;
  }
  /** Image version. */
  get version(): string {
    return this.#record.requirements.version;
  }
  /** The execution cap, percent; a value being set shows at once (see {@link Session}). */
  get executionCap(): number {
    return this.#requested.read('executionCap');
  }
  /** The guest's IP address once the API answered, else `''`. */
  get ip(): string {
    return this.#api.ip;
  }
  /** The URL of the VM's API from this host once it answered, else `''`. */
  get apiURL(): string {
    return this.#api.apiURL;
  }
  /** The display's host and port; `''` (no driver offers a display yet). */
  get rdpURL(): string {
    return '';
  }
  /** The daemon controls this session. */
  get daemonControlled(): boolean {
    return this.#requested.read('daemon').controlled;
  }
  /** Execution cap while the user is active (0: pause or hibernate). */
  get daemonMinCap(): number {
    return this.#requested.read('daemon').minCap;
  }
  /** Execution cap while the user is idle. */
  get daemonMaxCap(): number {
    return this.#requested.read('daemon').maxCap;
  }
  /** `DF_*` bits. */
  get daemonFlags(): number {
    return this.#requested.read('daemon').flags;
  }
  /**
   * The user's own last action stopped, paused, hibernated or closed the VM (a later `start()` or
   * `resume()` clears it). The daemon never undoes such a decision, except that `DF_AUTOSTART`
   * starts a shut-down VM.
   */
  get stoppedByUser(): boolean {
    return this.#record.stoppedByUser;
  }
  /** A snapshot of the persisted record. */
  get record(): SessionRecord {
    return this.#record;
  }

  /** Creates the VM with `requirements` (seed defaults for missing fields). Fires `open` / `openError`. */
  open(requirements?: Partial<Requirements>, options?: SessionActionOptions): Promise<void> {
    let checked: Requirements;
    try {
      checked = validateRequirements(requirements);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#act('open', options, async (signal) => {
      const { hypervisor } = this.#context;
      const directory = this.#vmDirectory();
      // The driver is recorded up front, so reconcile() can finish an open cut short by a crash.
      await this.#save({
        requirements: checked,
        driver: hypervisor.name,
        state: SessionState.Opening,
        hibernated: false,
        pending: this.#pending('open'),
      });
      const progress = this.#counter(1);
      progress.phase(0, 'Creating the virtual machine');
      let vm: GuardedVm | undefined;
      try {
        await mkdir(directory, { recursive: true, mode: 0o700 });
        vm = await hypervisor.createVm(
          {
            sessionId: this.id,
            name: this.vmName,
            cpus: checked.cpus,
            ram: checked.ram,
            disk: checked.disk,
            executionCap: this.#record.executionCap,
            image: this.#context.image(checked.version),
            directory,
          },
          this.#driverOptions(signal, progress),
        );
        this.#vm = vm;
        await this.#save({ vmId: vm.id, state: SessionState.Open, pending: undefined });
      } catch (error) {
        // A VM the registry could not record would be an orphan: remove it.
        await vm?.destroy().catch(() => undefined);
        this.#vm = undefined;
        await rm(directory, { recursive: true, force: true }).catch(() => undefined);
        await this.#commit({
          state: SessionState.Closed,
          vmId: undefined,
          driver: undefined,
          pending: undefined,
        }).catch(() => undefined);
        throw error;
      }
      progress.finish('Virtual machine created');
    });
  }

  /**
   * Boots the VM with `userData` (or restores it when hibernated). Placeholders
   * `${name}` and `${name:default}` are expanded from `options.values`. Fires `start` / `startError`.
   * The expanded text is never written to the session registry: it goes into the context medium
   * and a copy beside it in the VM's own directory (0600), which `close()` removes.
   */
  start(userData = '', options?: StartOptions): Promise<void> {
    const expanded =
      typeof userData !== 'string'
        ? undefined
        : options?.expand === false
          ? userData
          : expandPlaceholders(userData, options?.values ?? {});
    if (expanded === undefined || Buffer.byteLength(expanded) > MAX_USER_DATA_BYTES) {
      return Promise.reject(
        new HypervisorError(
          'INVALID_USAGE',
          `user data is a string of at most ${MAX_USER_DATA_BYTES} bytes`,
          {
            details: { field: 'userData' },
          },
        ),
      );
    }
    return this.#act('start', options, async (signal) => {
      const vm = await this.#requireVm(signal);
      const restoring = this.#record.hibernated;
      const again = options?.again === true;
      const directory = this.#vmDirectory();
      // The text of the last boot; a record of an earlier version may still hold it instead.
      const kept = restoring || again ? await readBootUserData(directory, signal) : undefined;
      const bootData =
        kept ?? (restoring || again ? this.#record.userData : undefined) ?? (again ? undefined : expanded);
      if (bootData === undefined) {
        throw new HypervisorError('INVALID_STATE', 'the virtual machine has no earlier boot to start again', {
          details: { sessionId: this.id },
        });
      }
      // The registry keeps no user data (an earlier version's copy is dropped here).
      await this.#save({
        state: SessionState.Starting,
        userData: undefined,
        stoppedByUser: false,
        pending: this.#pending('start'),
      });
      const progress = this.#counter(restoring ? 1 : 2);
      try {
        const format = this.#context.image(this.version).context;
        // A restore, or a start again, keeps the medium of the last boot, still in the VM's directory.
        let context = restoring || again ? await this.#existingContext(format) : undefined;
        if (!context) {
          progress.phase(0, 'Writing the user data medium');
          context = await buildContextMedium({
            format,
            userData: bootData,
            directory,
            instanceId: this.id,
            hostname: this.vmName,
            signal,
          });
        }
        if (kept !== bootData) await keepBootUserData(directory, bootData, signal);
        progress.phase(
          restoring ? 0 : 1,
          restoring ? 'Restoring the virtual machine' : 'Booting the virtual machine',
        );
        await vm.start({ userData: bootData, context }, this.#driverOptions(signal, progress));
      } catch (error) {
        await this.#commit({ state: SessionState.Error, pending: undefined }).catch(() => undefined);
        throw error;
      }
      await this.#commit({ state: SessionState.Started, hibernated: false, pending: undefined });
      progress.finish('Virtual machine running');
      this.#watchApi();
    });
  }

  /** Freezes the running VM. Fires `pause` / `pauseError`. */
  pause(options?: SessionActionOptions): Promise<void> {
    return this.#simple('pause', options, (vm, o) => vm.pause(o), { stoppedByUser: byUser(options) });
  }

  /** Thaws the paused VM. Fires `resume` / `resumeError`. */
  resume(options?: SessionActionOptions): Promise<void> {
    return this.#simple('resume', options, (vm, o) => vm.resume(o), { stoppedByUser: false });
  }

  /** Hard-resets the running VM. Fires `reset` / `resetError`. */
  reset(options?: SessionActionOptions): Promise<void> {
    return this.#simple('reset', options, (vm, o) => vm.reset(o));
  }

  /** Powers the VM off (ACPI first, then forced). Fires `stop` / `stopError`. */
  stop(options?: SessionActionOptions): Promise<void> {
    return this.#simple(
      'stop',
      options,
      (vm, o) =>
        vm.stop({ ...o, ...(this.#context.stopTimeoutMs ? { timeoutMs: this.#context.stopTimeoutMs } : {}) }),
      { hibernated: false, stoppedByUser: byUser(options) },
    );
  }

  /** Saves the VM's memory and powers it off; `start()` restores it. Fires `hibernate` / `hibernateError`. */
  hibernate(options?: SessionActionOptions): Promise<void> {
    return this.#simple('hibernate', options, (vm, o) => vm.hibernate(o), {
      hibernated: true,
      stoppedByUser: byUser(options),
    });
  }

  /** Removes the VM and everything made for it; the session stays owned and can be opened again. Fires `close` / `closeError`. */
  close(options?: SessionActionOptions): Promise<void> {
    return this.#act('close', options, async (signal) => {
      this.#stopApiWatch();
      await this.#save({ pending: this.#pending('close') });
      const progress = this.#counter(2);
      progress.phase(0, 'Removing the virtual machine');
      try {
        const vm =
          this.#vm ??
          (this.#record.vmId ? await this.#context.hypervisor.findVm(this.#record.vmId) : undefined);
        await vm?.destroy(this.#driverOptions(signal, progress));
        progress.phase(1, 'Removing session files');
        await rm(this.#vmDirectory(), { recursive: true, force: true });
      } catch (error) {
        await this.#commit({ state: SessionState.Error, pending: undefined }).catch(() => undefined);
        throw error;
      }
      this.#vm = undefined;
      await this.#commit({
        state: SessionState.Closed,
        vmId: undefined,
        driver: undefined,
        hibernated: false,
        pending: undefined,
        stoppedByUser: byUser(options),
        userData: undefined,
      });
      progress.finish('Session closed');
    });
  }

  /**
   * Sets the execution cap, 1–100 percent (seed: returns 0; here resolves). {@link Session.executionCap}
   * gives the new value at once and the previous one again if this fails.
   */
  setExecutionCap(cap: number, options?: SessionActionOptions): Promise<void> {
    let checked: number;
    try {
      checked = validateExecutionCap(cap);
    } catch (error) {
      return Promise.reject(error);
    }
    const request = this.#requested.request('executionCap', checked);
    return request.track(
      this.#act('setExecutionCap', options, async (signal) => {
        try {
          if (this.#record.vmId) await (await this.#requireVm(signal)).setExecutionCap(checked, { signal });
          else requireCapability(this.#context.hypervisor, 'executionCap', 'setExecutionCap');
          await this.#commit({ executionCap: checked });
        } finally {
          request.done(); // before the error events, so their listeners read the restored value
        }
      }),
    );
  }

  /**
   * Sets a property. It is kept in the session registry, and reaches the guest
   * when the driver has the `guestProperties` capability.
   */
  setProperty(name: string, value: string, options?: SessionActionOptions): Promise<void> {
    let key: string;
    let checked: string;
    try {
      key = validatePropertyKey(name);
      checked = validatePropertyValue(value);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#act('setProperty', options, async (signal) => {
      const { properties } = this.#record;
      if (!Object.hasOwn(properties, key) && Object.keys(properties).length >= propertyLimits.count) {
        throw new HypervisorError(
          'INVALID_USAGE',
          `a session keeps at most ${propertyLimits.count} properties`,
          {
            details: { field: 'propertyName', limit: propertyLimits.count },
          },
        );
      }
      if (this.#context.hypervisor.capabilities.guestProperties && this.#record.vmId) {
        await (await this.#requireVm(signal)).setProperty(key, checked, { signal });
      }
      await this.#save((record) => ({ properties: { ...record.properties, [key]: checked } }));
    });
  }

  /** Reads a property: the guest's value when the driver can read it, else the stored one; `''` when unset. */
  getProperty(name: string, options?: SessionActionOptions): Promise<string> {
    let key: string;
    try {
      key = validatePropertyKey(name);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#act('getProperty', options, async (signal) => {
      if (this.#context.hypervisor.capabilities.guestProperties && this.#record.vmId) {
        const value = await (await this.#requireVm(signal)).getProperty(key, { signal });
        if (value !== undefined) return value;
      }
      return this.#record.properties[key] ?? '';
    });
  }

  /**
   * Changes the daemon fields (`daemonControlled`, `daemonMinCap`, `daemonMaxCap`,
   * `daemonFlags`), validated and persisted. Legal in every state. The getters give the new values
   * at once, and the previous ones again if persisting them fails. While a VM
   * exists and the driver has `guestProperties`, the fields are also written as
   * guest properties of those names (as the original plugin kept them), in turn
   * with the session's other actions.
   */
  async setDaemonSettings(change: Partial<DaemonSettings>, options?: ActionOptions): Promise<void> {
    const request = this.#requested.request(
      'daemon',
      validateDaemonSettings(change, this.#requested.read('daemon')),
    );
    let next = this.#record.daemon;
    // Merged with the latest settings when the write's turn comes (see #write).
    await request.track(
      this.#save((record) => {
        next = validateDaemonSettings(change, record.daemon);
        return { daemon: next };
      }, options),
    );
    if (!this.#context.hypervisor.capabilities.guestProperties || !this.#record.vmId) return;
    await this.#enqueue(options?.signal, async () => {
      if (!this.#record.vmId) return;
      const vm = await this.#requireVm(options?.signal);
      const fields = {
        daemonControlled: String(next.controlled),
        daemonMinCap: String(next.minCap),
        daemonMaxCap: String(next.maxCap),
        daemonFlags: String(next.flags),
      };
      for (const [key, value] of Object.entries(fields)) {
        await vm.setProperty(key, value, options?.signal ? { signal: options.signal } : {});
      }
    });
  }

  /**
   * Reads the VM's power state from the hypervisor and adopts it when it
   * changed behind the session's back (the guest shut itself down, someone used
   * the hypervisor's own tools). Queued like every action; the entry point calls it when the
   * driver reports a change. Failures no action asked for fire
   * `error(message, code, 'session')`: a VM that vanished (then the session is `Closed`), crashed
   * (`Error`), was powered off from outside when the driver can tell (`Open`), or a hypervisor
   * that cannot be asked. A guest that powered itself off cleanly is no failure: only
   * `stateChanged` fires.
   */
  refresh(options?: ActionOptions): Promise<SessionStateValue> {
    return this.#enqueue(options?.signal, () =>
      this.#refresh(options).catch((raw: unknown) => {
        // The hypervisor cannot be asked (it went away): a failure no action reported.
        const error = toHypervisorError(raw, 'QUERY', 'reading the virtual machine failed');
        if (!error.aborted) this.emit('error', error.message, error.code, 'session');
        throw error;
      }),
    );
  }

  async #refresh(options?: ActionOptions): Promise<SessionStateValue> {
    const { vmId } = this.#record;
    if (!vmId) return this.state;
    const vm = this.#vm ?? (await this.#context.hypervisor.findVm(vmId, options));
    const from = this.state;
    if (!vm) return this.#vanished();
    let power: VmPowerState;
    try {
      power = await vm.state(options);
    } catch (error) {
      if (!isHypervisorError(error) || error.code !== ErrorCode.NOT_FOUND) throw error;
      return this.#vanished();
    }
    this.#vm = vm;
    const truth = sessionStateForPower(power);
    if (truth.state !== from || truth.hibernated !== this.hibernated) {
      const failure = await unrequestedFailure(vm, from, truth, options);
      await this.#save(truth);
      if (truth.state === SessionState.Started) this.#watchApi();
      else this.#stopApiWatch();
      if (failure) this.emit('error', failure.message, failure.code, 'session');
    }
    return this.state;
  }

  /** @internal Adopts a record changed by the registry (reconcile) and tells listeners. */
  adopt(record: SessionRecord, reason?: { message: string; code: number }): void {
    const from = this.state;
    this.#record = record;
    if (!record.vmId) this.#vm = undefined;
    if (record.state !== SessionState.Started) this.#stopApiWatch();
    else this.#watchApi();
    if (record.state !== from) this.emit('stateChanged', record.state, from);
    this.emit('changed');
    if (reason) this.emit('error', reason.message, reason.code, 'session');
  }

  /** @internal Stops background work (API watch) without touching the VM. */
  detach(): void {
    this.#stopApiWatch();
  }

  #simple(
    action: 'pause' | 'resume' | 'reset' | 'stop' | 'hibernate',
    options: SessionActionOptions | undefined,
    run: (vm: GuardedVm, options: ActionOptions) => Promise<void>,
    extra: Partial<SessionRecord> = {},
  ): Promise<void> {
    return this.#act(action, options, async (signal) => {
      const vm = await this.#requireVm(signal);
      const from = this.state;
      if (action !== 'reset') this.#stopApiWatch();
      await this.#save({ pending: this.#pending(action) });
      // Only what the driver reports: these actions are short, and most drivers report nothing.
      const progress = this.#counter(1);
      try {
        await run(vm, this.#driverOptions(signal, progress));
      } catch (error) {
        await this.#commit({ pending: undefined }).catch(() => undefined);
        if (from === SessionState.Started && action !== 'reset') this.#watchApi();
        throw error;
      }
      await this.#commit({ state: landingState(action, from, true), pending: undefined, ...extra });
      if (progress.reported) progress.finish(`${action}() finished`);
      if (this.state === SessionState.Started && action !== 'reset') this.#watchApi();
    });
  }

  /** Runs an action in turn: legality check, then `body`, then the seed's events. */
  #act<T>(
    action: SessionAction,
    options: SessionActionOptions | undefined,
    body: (signal?: AbortSignal) => Promise<T>,
  ) {
    const signal = options?.signal;
    return this.#enqueue(signal, async () => {
      assertLegal(action, this.state);
      try {
        const result = await body(signal);
        if (isLifecycle(action)) this.emit(action);
        return result;
      } catch (raw) {
        const error = toHypervisorError(raw, 'CONTROL', `${action}() failed`, { action });
        if (isLifecycle(action)) this.emit(`${action}Error` as ActionErrorEvent, error.message, error.code);
        this.emit('error', error.message, error.code, action);
        throw error;
      }
    });
  }

  #enqueue<T>(signal: AbortSignal | undefined, run: () => Promise<T>): Promise<T> {
    return this.#queue.enqueue(signal, run);
  }

  /** Persists a change of the record, then applies it; on failure nothing changes. */
  #save(change: RecordChange, options?: ActionOptions): Promise<void> {
    return this.#write(change, false, options);
  }

  /**
   * Records what already happened at the hypervisor: applies the change even when
   * persisting it fails (then rejects), so the session never lies about the VM.
   * The registry catches up through `reconcile()`.
   */
  #commit(change: RecordChange): Promise<void> {
    return this.#write(change, true);
  }

  /**
   * Every change of the record goes through one chain, and the next record is
   * built from the latest one when its turn comes, so changes made at the same
   * time (an action's step and a daemon setting) never overwrite each other.
   */
  #write(change: RecordChange, always: boolean, options?: ActionOptions): Promise<void> {
    const run = async () => {
      const next = this.#next(typeof change === 'function' ? change(this.#record) : change);
      try {
        await this.#context.registry.put(next, options);
      } catch (error) {
        if (always) this.#apply(next);
        throw error;
      }
      this.#apply(next);
    };
    const written = this.#writes.then(run, run);
    this.#writes = written.catch(() => undefined);
    return written;
  }

  #next(change: Partial<SessionRecord>): SessionRecord {
    const next = { ...this.#record, ...change, updatedAt: this.#context.clock.now() } as SessionRecord;
    for (const key of Object.keys(change) as (keyof SessionRecord)[]) {
      if (change[key] === undefined) delete (next as Partial<Record<keyof SessionRecord, unknown>>)[key];
    }
    return next;
  }

  #apply(next: SessionRecord): void {
    const previous = this.#record.state;
    this.#record = next;
    if (next.state !== previous) this.emit('stateChanged', next.state, previous);
    this.emit('changed');
  }

  async #vanished(): Promise<SessionStateValue> {
    this.#stopApiWatch();
    this.#vm = undefined;
    await this.#commit({
      state: SessionState.Closed,
      vmId: undefined,
      driver: undefined,
      hibernated: false,
      pending: undefined,
    });
    this.emit('error', 'the virtual machine disappeared from the hypervisor', ErrorCode.NOT_FOUND, 'session');
    return this.state;
  }

  async #existingContext(format: ContextFormat): Promise<ContextMedium | undefined> {
    const path = join(this.#vmDirectory(), CONTEXT_MEDIUM_FILE_NAME);
    const info = await stat(path).catch(() => undefined);
    return info ? { format, path, size: info.size } : undefined;
  }

  #pending(action: SessionAction) {
    return { action, since: this.#context.clock.now() };
  }

  /** A new progress counter for one action (see {@link ProgressCounter}). */
  #counter(phases: number): ProgressCounter {
    return new ProgressCounter(phases, (done, total, message) => this.emit('progress', done, total, message));
  }

  #driverOptions(signal: AbortSignal | undefined, progress: ProgressCounter) {
    return {
      signal,
      onProgress: progress.step,
      onDebug: (message: string) => this.emit('debug', message),
    };
  }

  async #requireVm(signal?: AbortSignal): Promise<GuardedVm> {
    const { vmId } = this.#record;
    if (!this.#vm && vmId) this.#vm = await this.#context.hypervisor.findVm(vmId, { signal });
    if (!this.#vm) {
      throw new HypervisorError('NOT_FOUND', `the virtual machine of session "${this.name}" is not known`, {
        details: { sessionId: this.id },
      });
    }
    return this.#vm;
  }

  /** @internal Attaches the driver's VM handle found after a restart. */
  attachVm(vm: GuardedVm | undefined): void {
    this.#vm = vm;
    if (vm && this.state === SessionState.Started) this.#watchApi();
  }

  #vmDirectory(): string {
    return join(this.#context.vmRoot, this.id);
  }

  #watchApi(): void {
    this.#api.start(this.#vm);
  }

  #stopApiWatch(): void {
    this.#api.stop();
  }
}

function byUser(options: SessionActionOptions | undefined): boolean {
  return (options?.initiator ?? 'user') === 'user';
}

const lifecycle = new Set(['open', 'start', 'close', 'pause', 'resume', 'stop', 'hibernate', 'reset']);

function isLifecycle(
  action: SessionAction,
): action is 'open' | 'start' | 'close' | 'pause' | 'resume' | 'stop' | 'hibernate' | 'reset' {
  return lifecycle.has(action);
}
