import type { ActionOptions } from '../action-options.js';
import type { DisplayEndpoint } from '../driver/driver.js';
import type { GuardedVm } from '../driver/guarded-driver.js';
import { HypervisorError } from '../errors/hypervisor-error.js';
import { TypedEmitter } from '../events/typed-emitter.js';
import type { DaemonSettings, Requirements, SessionRecord } from '../registry/session-record.js';
import { landingState } from '../state/action-table.js';
import { SessionState, type SessionStateValue } from '../state/session-state.js';
import { ActionRunner } from './action-runner.js';
import { debugScreenshot } from './debug-screenshot.js';
import { refreshSession } from './refresh-session.js';
import { requireCapability } from './require-capability.js';
import { SessionApiWatch } from './session-api-watch.js';
import type { SessionContext, SessionParts } from './session-context.js';
import { displayURLOf, rdpURLOf, SessionDisplay } from './session-display.js';
import type { EmitSessionEvent, SessionEvents } from './session-events.js';
import type { SessionActionOptions, StartOptions } from './session-options.js';
import { SessionRecordStore } from './session-record-store.js';
import { SessionSettings } from './session-settings.js';
import { SessionVm } from './session-vm.js';
import { VmLifecycle } from './vm-lifecycle.js';

export type { SessionContext } from './session-context.js';

/**
 * One computation session (original plugin: the session object): a VM owned by whoever
 * requested the name first, driven through the original plugin's functions, observed
 * through the original plugin's events.
 *
 * Decisions where the original plugin is vague:
 * - Every function returns a promise that settles when the action has finished
 *   (the original plugin returned 1 and fired an event later; both the promise and the
 *   event happen here).
 * - Actions of one session run one at a time, in call order: a call made while
 *   another runs waits its turn, and is checked against the state when its turn
 *   comes. So `open(); start(data)` without awaiting works.
 * - The action table (`actionTable`) alone says which action is legal in which state, the
 *   state shown while it runs and where it lands on success and on failure.
 * - An action not legal in the current state rejects with `INVALID_STATE` (-8)
 *   and changes nothing; bad arguments reject with `INVALID_USAGE` (-99) at call
 *   time. Neither fires an event (the original plugin returned them as codes). A failure of
 *   the hypervisor fires `<action>Error(message, code)` and `error(message, code, action)`.
 * - A hibernated session is `Open` with {@link Session.hibernated} `true`; `start()` restores it.
 * - Setters are seen at once: right after `setExecutionCap(50)` or `setDaemonSettings()` returns,
 *   {@link Session.executionCap} and the daemon fields give the requested values (as the original plugin's
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
  readonly #parts: SessionParts;
  readonly #api: SessionApiWatch;
  readonly #display: SessionDisplay;
  readonly #lifecycle: VmLifecycle;
  readonly #settings: SessionSettings;

  /** @internal Made by the entry point's `requestSession()`, the only way users get one. */
  static create(context: SessionContext, record: SessionRecord): Session {
    return new Session(context, record);
  }

  // Private: users get sessions from requestSession(), and the shipped .d.ts says so.
  private constructor(context: SessionContext, record: SessionRecord) {
    super();
    const emit: EmitSessionEvent = (event, ...args) => this.emit(event, ...args);
    this.#api = new SessionApiWatch({
      clock: context.clock,
      timing: context.apiTiming,
      forwarding: context.hypervisor.capabilities.apiPortForwarding,
      onAvailable: (ip, url) => this.emit('apiAvailable', ip, url),
      onUnavailable: () => this.emit('apiUnavailable'),
      onSilent: (ms) => {
        if (!context.hypervisor.capabilities.screenshot) return;
        void debugScreenshot(this.#parts.vm.handle, `the API has not answered for ${ms} ms`, (...args) =>
          this.emit('debug', ...args),
        );
      },
    });
    this.#display = new SessionDisplay(
      context.hypervisor.capabilities.display,
      () => this.emit('changed'),
      (message) => this.emit('debug', message),
    );
    const store = new SessionRecordStore(record, context.registry, context.clock, (next, previous) => {
      if (next.state !== previous.state) this.emit('stateChanged', next.state, previous.state);
      this.emit('changed');
      this.#followState();
    });
    this.#parts = {
      context,
      record: store,
      vm: new SessionVm(context.hypervisor, () => store.current, context.vmRoot),
      runner: new ActionRunner({ record: store, clock: context.clock, emit }),
      emit,
    };
    this.#lifecycle = new VmLifecycle(this.#parts);
    this.#settings = new SessionSettings(this.#parts, () => this.emit('changed'));
  }

  /** The session's stable id. */
  get id(): string {
    return this.record.id;
  }
  /** The name given to `requestSession()`. */
  get name(): string {
    return this.record.name;
  }
  /** Who the session belongs to: `local`, or a page's origin. */
  get scope(): string {
    return this.record.scope;
  }
  /** The hypervisor-side VM name derived from the name. */
  get vmName(): string {
    return this.record.vmName;
  }
  /** The state (the original plugin's state constants). */
  get state(): SessionStateValue {
    return this.record.state;
  }
  /** The VM's memory is saved; `start()` restores it. */
  get hibernated(): boolean {
    return this.record.hibernated;
  }
  /** An action is running or queued. */
  get busy(): boolean {
    return this.#parts.runner.busy;
  }
  /** Virtual CPUs. */
  get cpus(): number {
    return this.record.requirements.cpus;
  }
  /** Memory, MiB. */
  get ram(): number {
    return this.record.requirements.ram;
  }
  /** Scratch disk, MiB. */
  get disk(): number {
    return this.record.requirements.disk;
  }
  /** Image version. */
  get version(): string {
    return this.record.requirements.version;
  }
  /** The execution cap, percent; a value being set shows at once (see {@link Session}). */
  get executionCap(): number {
    return this.#settings.shown('executionCap');
  }
  /** The guest's IP address once the API answered, else `''`. */
  get ip(): string {
    return this.#api.ip;
  }
  /** The URL of the VM's API from this host once it answered, else `''`. */
  get apiURL(): string {
    return this.#api.apiURL;
  }
  /**
   * The display's `host:port` (the original plugin's form) while the VM runs and its driver has
   * the `display` capability, else `''`. {@link Session.displayURL} says the protocol.
   */
  get rdpURL(): string {
    return rdpURLOf(this.#display.endpoint);
  }
  /** The display's URL with its protocol (`vnc://127.0.0.1:5901`, `rdp://…`) while the VM runs, else `''`. */
  get displayURL(): string {
    return displayURLOf(this.#display.endpoint);
  }
  /** The daemon controls this session. */
  get daemonControlled(): boolean {
    return this.#settings.shown('daemon').controlled;
  }
  /** Execution cap while the user is active (0: pause or hibernate). */
  get daemonMinCap(): number {
    return this.#settings.shown('daemon').minCap;
  }
  /** Execution cap while the user is idle. */
  get daemonMaxCap(): number {
    return this.#settings.shown('daemon').maxCap;
  }
  /** `DF_*` bits. */
  get daemonFlags(): number {
    return this.#settings.shown('daemon').flags;
  }
  /**
   * The user's own last action stopped, paused, hibernated or closed the VM (a later `start()` or
   * `resume()` clears it). The daemon never undoes such a decision, except that `DF_AUTOSTART`
   * starts a shut-down VM.
   */
  get stoppedByUser(): boolean {
    return this.record.stoppedByUser;
  }
  /** A snapshot of the persisted record. */
  get record(): SessionRecord {
    return this.#parts.record.current;
  }

  /** Creates the VM with `requirements` (the original plugin's defaults for missing fields). Fires `open` / `openError`. */
  open(requirements?: Partial<Requirements>, options?: SessionActionOptions): Promise<void> {
    return this.#lifecycle.open(requirements, options);
  }

  /**
   * Boots the VM with `userData` (or restores it when hibernated). Placeholders
   * `${name}` and `${name:default}` are expanded from `options.values`. Fires `start` / `startError`.
   * The expanded text is never written to the session registry: it goes into the context medium
   * and a copy beside it in the VM's own directory (0600), which `close()` removes.
   */
  start(userData = '', options?: StartOptions): Promise<void> {
    return this.#lifecycle.start(userData, options);
  }

  /** Freezes the running VM. Fires `pause` / `pauseError`. */
  pause(options?: SessionActionOptions): Promise<void> {
    return this.#lifecycle.pause(options);
  }

  /** Thaws the paused VM. Fires `resume` / `resumeError`. */
  resume(options?: SessionActionOptions): Promise<void> {
    return this.#lifecycle.resume(options);
  }

  /** Hard-resets the running VM. Fires `reset` / `resetError`. */
  reset(options?: SessionActionOptions): Promise<void> {
    return this.#lifecycle.reset(options);
  }

  /** Powers the VM off (ACPI first, then forced). Fires `stop` / `stopError`. */
  stop(options?: SessionActionOptions): Promise<void> {
    return this.#lifecycle.stop(options);
  }

  /** Saves the VM's memory and powers it off; `start()` restores it. Fires `hibernate` / `hibernateError`. */
  hibernate(options?: SessionActionOptions): Promise<void> {
    return this.#lifecycle.hibernate(options);
  }

  /** Removes the VM and everything made for it; the session stays owned and can be opened again. Fires `close` / `closeError`. */
  close(options?: SessionActionOptions): Promise<void> {
    return this.#lifecycle.close(options);
  }

  /**
   * Sets the execution cap, 1–100 percent (original plugin: returns 0; here resolves). {@link Session.executionCap}
   * gives the new value at once and the previous one again if this fails.
   */
  setExecutionCap(cap: number, options?: SessionActionOptions): Promise<void> {
    return this.#settings.setExecutionCap(cap, options);
  }

  /**
   * Sets a property. It is kept in the session registry, and reaches the guest
   * when the driver has the `guestProperties` capability.
   */
  setProperty(name: string, value: string, options?: SessionActionOptions): Promise<void> {
    return this.#settings.setProperty(name, value, options);
  }

  /** Reads a property: the guest's value when the driver can read it, else the stored one; `''` when unset. */
  getProperty(name: string, options?: SessionActionOptions): Promise<string> {
    return this.#settings.getProperty(name, options);
  }

  /**
   * Changes the daemon fields (`daemonControlled`, `daemonMinCap`, `daemonMaxCap`,
   * `daemonFlags`), validated and persisted, in turn with the session's actions. Legal in every
   * state. The getters give the new values at once, and the previous ones again if persisting
   * them fails. While a VM exists and the driver has `guestProperties`, the fields are also
   * written as guest properties of those names (as the original plugin kept them).
   */
  setDaemonSettings(change: Partial<DaemonSettings>, options?: ActionOptions): Promise<void> {
    return this.#settings.setDaemonSettings(change, options);
  }

  /**
   * The running VM's screen as a PNG file's bytes. Rejects with `NOT_SUPPORTED` (-11) when the
   * driver has no `screenshot` capability and `INVALID_STATE` (-8) when the VM is not running or
   * paused.
   */
  async screenshot(options?: ActionOptions): Promise<Uint8Array> {
    return (await this.#runningVm('screenshot')).screenshot(options);
  }

  /**
   * Where the running VM's display listens, with its password, asked from the driver now.
   * For Node-side code only (the web bridge's console proxy): never send the result to a page.
   * Rejects like {@link Session.screenshot}, for the `display` capability.
   */
  async displayEndpoint(options?: ActionOptions): Promise<DisplayEndpoint> {
    const endpoint = await (await this.#runningVm('display')).display(options);
    if (!endpoint) throw notRunning(this.name, 'display');
    return endpoint;
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
    return refreshSession(this.#parts, options);
  }

  /** @internal Adopts a record changed by the registry (reconcile) and tells listeners. */
  adopt(record: SessionRecord, reason?: { message: string; code: number }): void {
    if (!record.vmId) this.#parts.vm.set(undefined);
    this.#parts.record.replace(record);
    if (reason) this.emit('error', reason.message, reason.code, 'session');
  }

  /** @internal Stops background work (API watch) without touching the VM. */
  detach(): void {
    this.#api.stop();
  }

  /** @internal Attaches the driver's VM handle found after a restart. */
  attachVm(vm: GuardedVm | undefined): void {
    this.#parts.vm.set(vm);
    this.#followState();
  }

  async #runningVm(capability: 'display' | 'screenshot'): Promise<GuardedVm> {
    requireCapability(this.#parts.context.hypervisor, capability, capability);
    const { state } = this.record;
    const vm = await this.#parts.vm.find();
    if (!vm || (state !== SessionState.Started && state !== SessionState.Paused)) {
      throw notRunning(this.name, capability);
    }
    return vm;
  }

  /**
   * The VM's API is watched while the session is `Started`, except while an action runs that will
   * leave `Started` (pause, stop, hibernate, close): its own record writes must not restart the watch.
   */
  #followState(): void {
    const { state, pending } = this.record;
    const leaving =
      pending !== undefined && landingState(pending.action, state, true) !== SessionState.Started;
    if (state === SessionState.Started && !leaving) this.#api.start(this.#parts.vm.handle);
    else this.#api.stop();
    if (state === SessionState.Started || state === SessionState.Paused) {
      this.#display.follow(this.#parts.vm.handle);
    } else this.#display.forget();
  }
}

function notRunning(name: string, what: string): HypervisorError {
  return new HypervisorError('INVALID_STATE', `the virtual machine of session "${name}" is not running`, {
    details: { operation: what },
  });
}
