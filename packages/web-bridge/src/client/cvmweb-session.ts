import type { SessionEvents, SessionStateValue } from '@cvmweb/core/browser';
import type { ConsoleTicket, SessionSnapshot } from '../protocol/server-frame.js';
import { ClientEmitter } from './client-emitter.js';
import type { ConsoleOptions } from './console-module.js';
import { CVMWebConsole, loadConsoleModule } from './cvmweb-console.js';

/** The requirements of {@link CVMWebSession.open} (the original plugin's defaults for missing fields). */
export interface OpenRequirements {
  /** Virtual CPUs (default 1). */
  cpus?: number;
  /** Memory, MiB (default 256). */
  ram?: number;
  /** Scratch disk, MiB (default 1024). */
  disk?: number;
  /** CernVM image version (default `'1.3'`). */
  version?: string;
}

/** The daemon fields of a session, for {@link CVMWebSession.setDaemonSettings}. */
export interface DaemonSettingsChange {
  /** The daemon manages the session. */
  controlled?: boolean;
  /** Execution cap while the user is active (0: pause or hibernate). */
  minCap?: number;
  /** Execution cap while the user is idle. */
  maxCap?: number;
  /** `DF_*` bits. */
  flags?: number;
}

/** The properties a page sets, read back at once (the original plugin's rule). */
type SettableField = 'executionCap' | 'daemonControlled' | 'daemonMinCap' | 'daemonMaxCap' | 'daemonFlags';

const daemonFields = {
  controlled: 'daemonControlled',
  minCap: 'daemonMinCap',
  maxCap: 'daemonMaxCap',
  flags: 'daemonFlags',
} as const satisfies Record<keyof DaemonSettingsChange, SettableField>;

/**
 * The element a console is shown in: any DOM `HTMLElement` (typed loosely so the client compiles
 * without the DOM library).
 */
export interface ConsoleElement {
  /** The element's document (every DOM element has one). */
  readonly ownerDocument: unknown;
}

/** The events of a {@link CVMWebSession}: the original plugin's names and argument orders (core's `SessionEvents`). */
export type CVMWebSessionEvents = SessionEvents;

/** How a session reaches its bridge. @internal */
export interface SessionTransport {
  /** The service's base address (`http://127.0.0.1:5624`). */
  readonly base: string;
  call(
    session: string,
    op: string,
    fields: Record<string, unknown>,
  ): Promise<{ value: unknown; snapshot?: SessionSnapshot }>;
}

/**
 * A session of the service, as the original plugin's session object: the same functions
 * (returning promises), properties and events. Properties are pushed by the
 * service with every event and result, so reading them needs no round trip.
 *
 * @example
 * ```js
 * const session = await bridge.requestSession('my-session', 'secret');
 * session.addEventListener('progress', (done, total, message) => console.log(done, total, message));
 * session.addEventListener('apiAvailable', (ip, url) => console.log('API at', url));
 * await session.open({ cpus: 1, ram: 512 });
 * await session.start('[cernvm]\nusers=user:users:s3cr3t');
 * console.log(session.state); // 4 (Started)
 * ```
 */
export class CVMWebSession extends ClientEmitter<CVMWebSessionEvents> {
  #transport: SessionTransport;
  #snapshot: SessionSnapshot;
  /** Values set by this page and not yet confirmed by the service, with the call that set each. */
  readonly #requested = new Map<SettableField, { value: number | boolean; call: number }>();
  #calls = 0;

  /** @internal Made by {@link CVMWebBridge.requestSession}, the only way users get one. */
  static create(transport: SessionTransport, snapshot: SessionSnapshot): CVMWebSession {
    return new CVMWebSession(transport, snapshot);
  }

  // Private: users get sessions from requestSession(), and the shipped .d.ts says so.
  private constructor(transport: SessionTransport, snapshot: SessionSnapshot) {
    super();
    this.#transport = transport;
    this.#snapshot = snapshot;
  }

  /** The session's stable id. */
  get id(): string {
    return this.#snapshot.id;
  }
  /** The name given to `requestSession`. */
  get name(): string {
    return this.#snapshot.name;
  }
  /** The state (the original plugin's state constants): 0 Closed, 1 Opening, 2 Open, 3 Starting, 4 Started, 5 Error, 6 Paused. */
  get state(): SessionStateValue {
    return this.#snapshot.state;
  }
  /** The VM's memory is saved (state Open); `start()` restores it. */
  get hibernated(): boolean {
    return this.#snapshot.hibernated;
  }
  /** Virtual CPUs. */
  get cpus(): number {
    return this.#snapshot.cpus;
  }
  /** Memory, MiB. */
  get ram(): number {
    return this.#snapshot.ram;
  }
  /** Scratch disk, MiB. */
  get disk(): number {
    return this.#snapshot.disk;
  }
  /** CernVM image version. */
  get version(): string {
    return this.#snapshot.version;
  }
  /** The execution cap, percent. */
  get executionCap(): number {
    return this.#read('executionCap');
  }
  /** The guest's IP address once its API answered, else `''`. */
  get ip(): string {
    return this.#snapshot.ip;
  }
  /** The URL of the VM's API once it answered, else `''`. */
  get apiURL(): string {
    return this.#snapshot.apiURL;
  }
  /** The display's host and port, or `''`. */
  get rdpURL(): string {
    return this.#snapshot.rdpURL;
  }
  /** The daemon manages this session. Setting it reads back at once and sends the change; a refusal fires `error` and `changed` (the previous value is back). */
  get daemonControlled(): boolean {
    return this.#read('daemonControlled');
  }
  /** Hands the session to the daemon (`true`) or takes it back; it reads back at once and is sent to the service. */
  set daemonControlled(value: boolean) {
    this.#setDaemon({ controlled: value });
  }
  /** Execution cap while the user is active. Set as {@link CVMWebSession.daemonControlled}. */
  get daemonMinCap(): number {
    return this.#read('daemonMinCap');
  }
  /** Sets the execution cap the daemon applies while the user is active; it reads back at once and is sent to the service. */
  set daemonMinCap(value: number) {
    this.#setDaemon({ minCap: value });
  }
  /** Execution cap while the user is idle. Set as {@link CVMWebSession.daemonControlled}. */
  get daemonMaxCap(): number {
    return this.#read('daemonMaxCap');
  }
  /** Sets the execution cap the daemon applies while the user is idle; it reads back at once and is sent to the service. */
  set daemonMaxCap(value: number) {
    this.#setDaemon({ maxCap: value });
  }
  /** `DF_*` bits. Set as {@link CVMWebSession.daemonControlled}. */
  get daemonFlags(): number {
    return this.#read('daemonFlags');
  }
  /** Sets the `DF_*` bits; it reads back at once and is sent to the service. */
  set daemonFlags(value: number) {
    this.#setDaemon({ flags: value });
  }

  /** Creates the VM. Fires `open` / `openError` and `progress`. Rejects with `NOT_ALLOWED` above the local limits. */
  open(requirements?: OpenRequirements): Promise<void> {
    return this.#void('open', requirements === undefined ? {} : { requirements });
  }
  /** Boots the VM with `userData` (or restores it when hibernated). Fires `start` / `startError`. */
  start(userData = '', values?: Record<string, string>): Promise<void> {
    return this.#void('start', values ? { userData, values } : { userData });
  }
  /** Pauses the running VM. Fires `pause` / `pauseError`. */
  pause(): Promise<void> {
    return this.#void('pause', {});
  }
  /** Resumes the paused VM. Fires `resume` / `resumeError`. */
  resume(): Promise<void> {
    return this.#void('resume', {});
  }
  /** Hard-resets the running VM. Fires `reset` / `resetError`. */
  reset(): Promise<void> {
    return this.#void('reset', {});
  }
  /** Powers the VM off. Fires `stop` / `stopError`. */
  stop(): Promise<void> {
    return this.#void('stop', {});
  }
  /** Saves the VM's memory and powers it off. Fires `hibernate` / `hibernateError`. */
  hibernate(): Promise<void> {
    return this.#void('hibernate', {});
  }
  /** Removes the VM; the session stays yours and can be opened again. Fires `close` / `closeError`. */
  close(): Promise<void> {
    return this.#void('close', {});
  }
  /**
   * Sets the execution cap, 1–100 percent. As in the original plugin,
   * `executionCap` reads the new value at once; if the change fails, it
   * reads the previous value again and `changed` fires.
   */
  setExecutionCap(cap: number): Promise<void> {
    return this.#setting({ executionCap: cap }, 'setExecutionCap', { cap });
  }
  /** Sets a property of the session (and of the guest, where the hypervisor can). */
  setProperty(name: string, value: string): Promise<void> {
    return this.#void('setProperty', { name, value });
  }
  /** Reads a property; `''` when unset. */
  async getProperty(name: string): Promise<string> {
    return String((await this.#call('getProperty', { name })).value);
  }
  /**
   * Changes the daemon fields at once: they read the new values right away;
   * if the change fails, the previous values come back and `changed` fires.
   */
  setDaemonSettings(change: DaemonSettingsChange): Promise<void> {
    const requested: Partial<Record<SettableField, number | boolean>> = {};
    for (const [key, field] of Object.entries(daemonFields)) {
      const value = change[key as keyof DaemonSettingsChange];
      if (value !== undefined) requested[field] = value;
    }
    return this.#setting(requested, 'setDaemon', { settings: change });
  }
  /**
   * Stops receiving this session's events on this page (the session and its VM
   * are untouched); a reconnection does not re-attach it. Request it again
   * (name and key) to use it again.
   */
  release(): Promise<void> {
    return this.#void('release', {});
  }

  /**
   * Shows the running VM's screen inside `element` (an `HTMLElement`; noVNC adds its canvas),
   * taking keyboard and mouse. The console's module (noVNC) is loaded from the service
   * (`/console.js`) on the first call only. The service relays the display over its own
   * WebSocket with a one-time token and authenticates to the display itself: no password
   * reaches the page. Resolves once the screen is shown; rejects with `NOT_ALLOWED` (-10) for a
   * session this page did not request or without consent, `INVALID_STATE` (-8) while the VM
   * does not run, `NOT_SUPPORTED` (-11) when the hypervisor has no display, `IO` (-5) when the
   * module cannot be loaded.
   *
   * @example
   * ```js
   * const view = await session.openConsole(document.getElementById('screen'));
   * view.addEventListener('disconnect', (code, message) => console.log('console closed', code, message));
   * // later
   * view.disconnect();
   * ```
   */
  async openConsole(element: ConsoleElement, options: ConsoleOptions = {}): Promise<CVMWebConsole> {
    const base = this.#transport.base;
    const module = loadConsoleModule(options.moduleUrl ?? `${base}/console.js`);
    const ticket = (await this.#transport.call(this.id, 'console', {})).value as ConsoleTicket;
    const url = `${base.replace(/^http/, 'ws')}${ticket.path}?token=${encodeURIComponent(ticket.token)}`;
    return CVMWebConsole.create().mount(await module, element, url, options);
  }

  /** @internal Takes the properties pushed by the service; fires `stateChanged` when `resync` finds a new state. */
  applySnapshot(snapshot: SessionSnapshot, resync = false): void {
    const previous = this.#snapshot.state;
    this.#snapshot = snapshot;
    if (resync && snapshot.state !== previous) this.fire('stateChanged', snapshot.state, previous);
  }

  /** @internal Fires an event pushed by the service. */
  dispatch(event: string, args: readonly unknown[]): void {
    (this.fire as (event: string, ...args: unknown[]) => void)(event, ...args);
  }

  async #call(op: string, fields: Record<string, unknown>) {
    const result = await this.#transport.call(this.id, op, fields);
    if (result.snapshot) this.applySnapshot(result.snapshot);
    return result;
  }

  async #void(op: string, fields: Record<string, unknown>): Promise<void> {
    await this.#call(op, fields);
  }

  #read<F extends SettableField>(field: F): SessionSnapshot[F] {
    const requested = this.#requested.get(field);
    return (requested ? requested.value : this.#snapshot[field]) as SessionSnapshot[F];
  }

  /** Shows `values` at once, sends the change, and forgets them when it is answered (a failure shows the previous values again). */
  async #setting(
    values: Partial<Record<SettableField, number | boolean>>,
    op: string,
    fields: Record<string, unknown>,
  ): Promise<void> {
    const call = ++this.#calls;
    for (const [field, value] of Object.entries(values)) {
      this.#requested.set(field as SettableField, { value: value as number | boolean, call });
    }
    const settle = () => {
      let reverted = false;
      for (const field of Object.keys(values) as SettableField[]) {
        if (this.#requested.get(field)?.call !== call) continue;
        this.#requested.delete(field);
        reverted ||= this.#snapshot[field] !== values[field];
      }
      return reverted;
    };
    try {
      await this.#call(op, fields);
      settle();
    } catch (error) {
      if (settle()) this.fire('changed');
      throw error;
    }
  }

  #setDaemon(change: DaemonSettingsChange): void {
    this.setDaemonSettings(change).catch((error: { message: string; code: number }) =>
      this.fire('error', error.message, error.code, 'daemon'),
    );
  }
}
