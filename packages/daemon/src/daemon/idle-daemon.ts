import {
  type ActionOptions,
  abortedError,
  type Clock,
  type Daemon,
  type DaemonSettings,
  type Session,
  type SessionRecord,
  type SessionStateValue,
  systemClock,
  TypedEmitter,
} from '@cvmweb/core';
import { type IdleReading, type IdleSource, isKnown } from '../idle/idle-source.js';
import { defaultIdleSources, type IdleCandidate, pickIdleSource } from '../idle/pick-idle-source.js';
import {
  currentHold,
  describePolicy,
  type Hold,
  type PlannedAction,
  planAction,
} from '../policy/daemon-policy.js';
import {
  type DaemonFileContent,
  DEFAULT_IDLE_TIME,
  type LastAction,
  readDaemonFile,
  validateIdleTime,
  writeDaemonFile,
} from './daemon-file.js';
import { type SystemState, Timeline, type TimelineEvent } from './timeline.js';

/** What the daemon needs of the entry point: a `Cvmweb` instance fits. */
export interface DaemonHost {
  /** Every session record (the registry). */
  sessions(): SessionRecord[];
  /** The live session object of an id. */
  session(id: string, options?: ActionOptions): Promise<Session | undefined>;
}

/** Options of {@link IdleDaemon}. */
export interface IdleDaemonOptions {
  /** Where sessions come from (a `Cvmweb`). */
  host: DaemonHost;
  /** The idle source; default: {@link pickIdleSource} over {@link defaultIdleSources} at `start()`. */
  source?: IdleSource;
  /** Default the system clock; tests pass core's `ManualClock`. */
  clock?: Clock;
  /** Where `daemon.json` lives (idleTime, the daemon's holds, last actions). Without it nothing is persisted. */
  stateDir?: string;
  /** Seconds without input before the system is idle (1–86 400). Default: `daemon.json`'s, else 30. Persisted. */
  idleTime?: number;
  /** What {@link IdleDaemon.path} says. Default `in-process`. */
  path?: string;
  /**
   * Extra time the idle state must hold before the daemon gives the machine to
   * the VMs, ms (default 5000): the system becomes idle after `idleTime` s plus this.
   */
  settleMs?: number;
  /**
   * Least time between two actions of the daemon on one session before it may
   * give the machine back to the VM (resume, start, raise the cap), and before
   * retrying a failed action, ms (default 30 000). Yielding to the user is never delayed.
   */
  minActionIntervalMs?: number;
  /** Poll interval while the system is idle (how fast the user's return is seen), ms. Default 500. */
  idlePollMs?: number;
  /** Longest poll interval while active or unknown, ms. Default 5000. */
  maxPollMs?: number;
  /** How often each controlled session's state is refreshed from the hypervisor, ms. Default 60 000; 0 never. */
  refreshMs?: number;
  /** Session actions run at once, at most. Default 16. */
  concurrency?: number;
  /** Timeline window, ms (default 15 min), and its capacity in events (default 10 000). */
  timelineMs?: number;
  timelineCapacity?: number;
  /** Time limit of one read of the source, ms. Default 5000. */
  readTimeoutMs?: number;
}

/** One controlled session in {@link DaemonStatus}. */
export interface ControlledSessionStatus {
  readonly id: string;
  readonly name: string;
  readonly scope: string;
  readonly state: SessionStateValue;
  readonly hibernated: boolean;
  readonly executionCap: number;
  readonly stoppedByUser: boolean;
  readonly settings: DaemonSettings;
  /** The policy in words. */
  readonly policy: string;
  /** What the daemon holds the session in (it paused or hibernated it). */
  readonly hold?: Hold;
  readonly lastAction?: LastAction;
}

/** A snapshot of the daemon for `cvmweb daemon status`, the bridge and the timeline. */
export interface DaemonStatus {
  readonly running: boolean;
  readonly path: string;
  readonly idleTime: number;
  /** The idle source's name (`none` when nothing usable was found). */
  readonly source: string;
  /** How the source was chosen, when it was picked by probing. */
  readonly candidates?: readonly IdleCandidate[];
  /** The last reading, and when it was taken. */
  readonly reading?: IdleReading;
  readonly readAt?: number;
  readonly system: SystemState;
  readonly sessions: readonly ControlledSessionStatus[];
}

/** Events of the daemon. */
export interface IdleDaemonEvents {
  /** Each timeline event as it happens. */
  timeline: [event: TimelineEvent];
  /** Something went wrong that is not a session action's failure (persisting, reading). */
  warning: [message: string];
}

const SECOND = 1000;

/**
 * The idle-aware daemon: watches the user's activity through an
 * {@link IdleSource} and applies each controlled session's policy (the seed's
 * table, see {@link planAction}) through the core Session API with
 * `initiator: 'daemon'`, one action at a time per session.
 *
 * Hysteresis: the system becomes idle after `idleTime` + `settleMs` without
 * input and becomes active at the first input. Yielding to the user (lower
 * cap, pause, hibernate) happens at once; giving the machine back to a VM
 * waits until `minActionIntervalMs` passed since the daemon's last action on
 * that session. An unknown idle state (no display, no session) is never
 * treated as idle: sessions are left as they are.
 *
 * Polling adapts: while idle the source is read every `idlePollMs`; while
 * active the next read is when the idle threshold could first be crossed
 * (at most `maxPollMs` away).
 */
export class IdleDaemon extends TypedEmitter<IdleDaemonEvents> implements Daemon {
  readonly #host: DaemonHost;
  readonly #clock: Clock;
  readonly #options: IdleDaemonOptions;
  readonly #timeline: Timeline;
  #source: IdleSource | undefined;
  #candidates: readonly IdleCandidate[] | undefined;
  #idleTime: number;
  #idleTimeGiven: boolean;
  #loaded = false;
  #running = false;
  /** The tail of the start/stop queue: each lifecycle step runs after the previous one finished. */
  #lifecycle: Promise<void> = Promise.resolve();
  #loop: Promise<void> | undefined;
  #stop: AbortController | undefined;
  #wake: AbortController | undefined;
  #system: SystemState = 'unknown';
  #systemSeen = false;
  #reading: IdleReading | undefined;
  #readAt: number | undefined;
  readonly #holds = new Map<string, Hold>();
  readonly #lastActions = new Map<string, LastAction>();
  readonly #inflight = new Map<string, Promise<void>>();
  readonly #seen = new Map<string, string>();
  #lastRefresh = 0;
  #active = 0;
  readonly #waiting: (() => void)[] = [];
  #writing: Promise<void> | undefined;
  #dirty = false;
  #ticking: Promise<number> | undefined;

  constructor(options: IdleDaemonOptions) {
    super();
    this.#host = options.host;
    this.#clock = options.clock ?? systemClock;
    this.#options = options;
    this.#source = options.source;
    this.#idleTimeGiven = options.idleTime !== undefined;
    this.#idleTime = options.idleTime === undefined ? DEFAULT_IDLE_TIME : validateIdleTime(options.idleTime);
    this.#timeline = new Timeline({
      ...(options.timelineMs !== undefined ? { horizonMs: options.timelineMs } : {}),
      ...(options.timelineCapacity !== undefined ? { capacity: options.timelineCapacity } : {}),
    });
  }

  /** The daemon is watching the system and controlling sessions. */
  get isRunning(): boolean {
    return this.#running;
  }
  /** The system is idle (false while active or unknown, and while stopped). */
  get isSystemIdle(): boolean {
    return this.#running && this.#system === 'idle';
  }
  /** Seconds without input before the system counts as idle. */
  get idleTime(): number {
    return this.#idleTime;
  }
  /** `in-process`, or the path given. */
  get path(): string {
    return this.#options.path ?? 'in-process';
  }
  /** The system as last seen: `idle`, `active` or `unknown`. */
  get system(): SystemState {
    return this.#system;
  }
  /** The idle source in use (after `start()`). */
  get source(): IdleSource | undefined {
    return this.#source;
  }

  /**
   * Changes `idleTime` (integer seconds 1–86 400, else `INVALID_USAGE`), persisted, effective at once.
   *
   * An already-aborted `signal` rejects with an aborted `CONTROL` error and changes nothing.
   * Otherwise the new value applies at once; the promise then waits for `daemon.json` to be
   * written, and an abort during that wait only stops the wait (the value stays).
   */
  async setIdleTime(seconds: number, options: ActionOptions = {}): Promise<void> {
    const { signal } = options;
    if (signal?.aborted) throw abortedError('setIdleTime()', signal.reason);
    this.#idleTime = validateIdleTime(seconds);
    this.#idleTimeGiven = true;
    this.#wakeUp();
    await abortable(this.#persist(), signal, 'setIdleTime()');
  }

  /**
   * Loads `daemon.json`, picks the idle source when none was given, and starts the control loop.
   *
   * Starts and stops run one at a time in call order: a `start()` made while a `stop()` is
   * under way waits for it to finish, then starts. `signal` cancels the start until the loop
   * runs: an abort before then rejects with an aborted `CONTROL` error and changes nothing.
   */
  async start(options: ActionOptions = {}): Promise<void> {
    const { signal } = options;
    await this.#inTurn('start()', signal, false, () => this.#startNow(signal));
  }

  /**
   * Stops the loop; actions under way finish; sessions keep their current state.
   * `isRunning` turns false as soon as the stop begins; the promise resolves when everything settled.
   *
   * An already-aborted `signal` (or one aborted while an earlier start or stop runs) rejects
   * with an aborted `CONTROL` error and changes nothing. Once the stop began it is not undone:
   * an abort then only stops the wait, and a later `start()` still waits for the stop to finish.
   */
  async stop(options: ActionOptions = {}): Promise<void> {
    await this.#inTurn('stop()', options.signal, true, () => this.#stopNow());
  }

  /**
   * Runs a lifecycle step after every earlier one finished. A caller whose signal fires while
   * it waits leaves at once and its step is skipped. With `detach`, the caller also stops
   * waiting when its signal fires during the step, which then runs to its end regardless.
   */
  async #inTurn(
    what: string,
    signal: AbortSignal | undefined,
    detach: boolean,
    step: () => Promise<void>,
  ): Promise<void> {
    if (signal?.aborted) throw abortedError(what, signal.reason);
    const previous = this.#lifecycle;
    const mine = previous.then(() => {
      if (signal?.aborted) throw abortedError(what, signal.reason);
      return step();
    });
    this.#lifecycle = mine.then(noop, noop);
    if (detach) return abortable(mine, signal, what);
    await abortable(previous, signal, what);
    await mine;
  }

  async #startNow(signal: AbortSignal | undefined): Promise<void> {
    if (this.#running) return;
    const content = await this.#load();
    if (signal?.aborted) throw abortedError('start()', signal.reason);
    let source = this.#source;
    let candidates = this.#candidates;
    if (!source) {
      const pick = await pickIdleSource(defaultIdleSources(), signal ? { signal } : {});
      source = pick.source;
      candidates = pick.candidates;
    }
    if (signal?.aborted) throw abortedError('start()', signal.reason);
    // Nothing changed until here, so an aborted start leaves the daemon as it was.
    this.#source = source;
    this.#candidates = candidates;
    this.#apply(content);
    this.#running = true;
    const stop = new AbortController();
    this.#stop = stop;
    this.#record({ at: this.#clock.now(), kind: 'daemon', running: true });
    this.#loop = this.#run(stop.signal);
  }

  async #stopNow(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#stop?.abort();
    await this.#loop;
    await this.whenSettled();
    this.#loop = undefined;
    this.#stop = undefined;
    this.#system = 'unknown';
    this.#systemSeen = false;
    this.#record({ at: this.#clock.now(), kind: 'daemon', running: false });
    await this.#persist();
  }

  /** Resolves when no session action of the daemon is in flight and the file is written. */
  async whenSettled(): Promise<void> {
    for (let quiet = 0; quiet < 2; ) {
      const busy = [...this.#inflight.values(), this.#ticking, this.#writing].filter(Boolean);
      if (busy.length > 0) {
        quiet = 0;
        await Promise.allSettled(busy);
      } else {
        quiet += 1;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
  }

  /** Timeline events at or after `since` (ms), oldest first. */
  timeline(since?: number): TimelineEvent[] {
    return this.#timeline.events(since);
  }

  /** A snapshot for status displays. */
  status(): DaemonStatus {
    return {
      running: this.#running,
      path: this.path,
      idleTime: this.#idleTime,
      source: this.#source?.name ?? 'none',
      ...(this.#candidates ? { candidates: this.#candidates } : {}),
      ...(this.#reading ? { reading: this.#reading } : {}),
      ...(this.#readAt !== undefined ? { readAt: this.#readAt } : {}),
      system: this.#running ? this.#system : 'unknown',
      sessions: controlledSessions(this.#host.sessions(), this.#holds, this.#lastActions),
    };
  }

  /** Reads `daemon.json` before the first start; `#apply` takes it in once the start commits. */
  async #load(): Promise<DaemonFileContent | undefined> {
    if (this.#loaded || !this.#options.stateDir) return undefined;
    return readDaemonFile(this.#options.stateDir, (m) => this.emit('warning', m));
  }

  #apply(content: DaemonFileContent | undefined): void {
    if (this.#loaded || !this.#options.stateDir) return;
    this.#loaded = true;
    if (!content) return;
    if (!this.#idleTimeGiven) this.#idleTime = content.idleTime;
    for (const [id, hold] of Object.entries(content.holds)) this.#holds.set(id, hold);
    for (const [id, last] of Object.entries(content.lastActions)) this.#lastActions.set(id, last);
  }

  async #run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      let delay: number;
      try {
        this.#ticking = this.#tick(signal);
        delay = await this.#ticking;
      } catch (error) {
        if (signal.aborted) break;
        this.emit('warning', `daemon tick failed: ${error instanceof Error ? error.message : String(error)}`);
        delay = this.#options.maxPollMs ?? 5000;
      } finally {
        this.#ticking = undefined;
      }
      if (signal.aborted) break;
      const wake = new AbortController();
      this.#wake = wake;
      const onStop = () => wake.abort();
      signal.addEventListener('abort', onStop, { once: true });
      try {
        await this.#clock.sleep(Math.max(1, delay), wake.signal);
      } catch {
        // woken early or stopped
      } finally {
        signal.removeEventListener('abort', onStop);
        if (this.#wake === wake) this.#wake = undefined;
      }
    }
  }

  #wakeUp(): void {
    this.#wake?.abort();
  }

  /** One pass: read the source, update the system state, plan and launch actions. Returns the next delay, ms. */
  async #tick(signal: AbortSignal): Promise<number> {
    const idlePollMs = this.#options.idlePollMs ?? 500;
    const maxPollMs = this.#options.maxPollMs ?? 5000;
    const settleMs = this.#options.settleMs ?? 5000;
    const minInterval = this.#options.minActionIntervalMs ?? 30_000;
    const reading = await this.#read(signal);
    const now = this.#clock.now();
    this.#reading = reading;
    this.#readAt = now;

    const enterIdle = this.#idleTime + settleMs / SECOND;
    let next: SystemState;
    if (!isKnown(reading)) next = 'unknown';
    else if (reading.idleSeconds >= (this.#system === 'idle' ? this.#idleTime : enterIdle)) next = 'idle';
    else next = 'active';
    if (next !== this.#system || !this.#systemSeen) {
      this.#system = next;
      this.#systemSeen = true;
      this.#record({
        at: now,
        kind: 'system',
        state: next,
        ...(isKnown(reading) ? { idleSeconds: reading.idleSeconds } : { reason: reading.unknown }),
      });
    }

    let delay =
      next === 'idle'
        ? idlePollMs
        : next === 'active' && isKnown(reading)
          ? Math.min(maxPollMs, Math.max(idlePollMs, (enterIdle - reading.idleSeconds) * SECOND))
          : maxPollMs;

    const records = this.#host.sessions().filter((r) => r.daemon.controlled);
    const refreshMs = this.#options.refreshMs ?? 60_000;
    const refreshDue = refreshMs > 0 && now - this.#lastRefresh >= refreshMs;
    if (refreshDue) this.#lastRefresh = now;
    const launches: { record: SessionRecord; plan: PlannedAction; hold: Hold | undefined }[] = [];
    let holdsChanged = false;
    const live = new Set<string>();
    for (const record of records) {
      live.add(record.id);
      this.#noteSession(record, now);
      if (this.#inflight.has(record.id)) continue;
      const stored = this.#holds.get(record.id);
      const hold = currentHold(record, stored);
      if (hold !== stored) {
        if (hold) this.#holds.set(record.id, hold);
        else this.#holds.delete(record.id);
        holdsChanged = true;
      }
      if (next === 'unknown') {
        if (refreshDue && record.vmId) this.#launch(record, undefined);
        continue;
      }
      const plan = planAction(record, next === 'idle', hold);
      if (!plan) {
        if (refreshDue && record.vmId) this.#launch(record, undefined);
        continue;
      }
      const last = this.#lastActions.get(record.id);
      if (last && (plan.direction === 'restore' || !last.ok) && now - last.at < minInterval) {
        delay = Math.min(delay, Math.max(1, last.at + minInterval - now));
        continue;
      }
      launches.push({ record, plan, hold });
      if (plan.action === 'pause' || plan.action === 'hibernate') {
        this.#holds.set(record.id, plan.action === 'pause' ? 'paused' : 'hibernated');
        holdsChanged = true;
      }
    }
    for (const id of this.#seen.keys()) if (!live.has(id)) this.#seen.delete(id);
    // Holds are written before the actions they describe, so a crash in between is recoverable.
    if (holdsChanged) await this.#persist();
    if (signal.aborted) {
      // Stopped while writing: start no action after stop(), and take back the holds that
      // described them (stop() writes the file again), or a VM the user pauses later would
      // pass for one the daemon paused.
      for (const { record, hold } of launches) {
        if (hold) this.#holds.set(record.id, hold);
        else this.#holds.delete(record.id);
      }
      throw abortedError('the daemon tick', signal.reason);
    }
    for (const { record, plan } of launches) this.#launch(record, plan);
    return delay;
  }

  /**
   * One read of the source, cancelled when the daemon stops and abandoned after
   * `readTimeoutMs`. The read gets its own controller, wired to the long-lived stop
   * signal by one listener and to a timer, both removed when the read ends: composing
   * signals with `AbortSignal.any` here would leave one dependant signal on the stop
   * signal per read for the daemon's lifetime (nodejs/node#55351).
   */
  async #read(stop: AbortSignal): Promise<IdleReading> {
    const source = this.#source;
    if (!source) return { unknown: 'no idle source' };
    if (stop.aborted) throw abortedError('reading the idle source', stop.reason);
    const timeoutMs = this.#options.readTimeoutMs ?? 5000;
    const controller = new AbortController();
    let timedOut = false;
    const onStop = () => controller.abort(abortedError('reading the idle source', stop.reason));
    stop.addEventListener('abort', onStop, { once: true });
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new DOMException(`${source.name}: read timed out`, 'TimeoutError'));
    }, timeoutMs);
    timer.unref?.();
    let onAbort: (() => void) | undefined;
    // A source that ignores its signal must not stall the loop: the read is abandoned at the deadline.
    const abandoned = new Promise<never>((_, reject) => {
      onAbort = () => reject(controller.signal.reason);
      controller.signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([source.read({ signal: controller.signal }), abandoned]);
    } catch (error) {
      if (stop.aborted) throw error;
      return {
        unknown: timedOut
          ? `${source.name}: read timed out`
          : `${source.name}: ${error instanceof Error ? error.message : String(error)}`,
      };
    } finally {
      clearTimeout(timer);
      stop.removeEventListener('abort', onStop);
      if (onAbort) controller.signal.removeEventListener('abort', onAbort);
    }
  }

  /** Runs `plan` (or only a refresh) on a session, in the background, at most `concurrency` at once. */
  #launch(record: SessionRecord, plan: PlannedAction | undefined): void {
    const task = (async () => {
      await this.#slot();
      try {
        const session = await this.#host.session(record.id);
        if (!session) return;
        if (!plan) {
          await session.refresh().catch(() => undefined);
          return;
        }
        const options = { initiator: 'daemon' as const };
        let error: string | undefined;
        try {
          switch (plan.action) {
            case 'setExecutionCap':
              await session.setExecutionCap(plan.cap, options);
              break;
            case 'pause':
              await session.pause(options);
              break;
            case 'resume':
              await session.resume(options);
              break;
            case 'hibernate':
              await session.hibernate(options);
              break;
            case 'start':
              // The user data of the VM's last boot (kept in its directory, never in the registry).
              await session.start('', { ...options, again: true });
              break;
          }
        } catch (failure) {
          error = failure instanceof Error ? failure.message : String(failure);
          // Our view may be stale (the VM changed behind our back): ask the hypervisor.
          await session.refresh().catch(() => undefined);
        }
        const at = this.#clock.now();
        const cap = plan.action === 'setExecutionCap' ? { cap: plan.cap } : {};
        this.#lastActions.set(record.id, {
          action: plan.action,
          ...cap,
          at,
          ok: error === undefined,
          ...(error !== undefined ? { error } : {}),
          why: plan.why,
        });
        this.#record({
          at,
          kind: 'action',
          sessionId: record.id,
          name: record.name,
          action: plan.action,
          ...cap,
          ok: error === undefined,
          ...(error !== undefined ? { error } : {}),
        });
        this.#noteSession(session.record, at);
        void this.#persist().catch(() => undefined);
      } finally {
        this.#release();
      }
    })();
    const tracked = task
      .catch((error: unknown) =>
        this.emit(
          'warning',
          `session ${record.name}: ${error instanceof Error ? error.message : String(error)}`,
        ),
      )
      .finally(() => {
        if (this.#inflight.get(record.id) === tracked) this.#inflight.delete(record.id);
        if (plan) this.#wakeUp();
      });
    this.#inflight.set(record.id, tracked);
  }

  async #slot(): Promise<void> {
    const limit = Math.max(1, this.#options.concurrency ?? 16);
    if (this.#active < limit) {
      this.#active += 1;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#active -= 1;
  }

  #noteSession(record: SessionRecord, at: number): void {
    const key = `${record.state}/${record.hibernated}/${record.executionCap}`;
    if (this.#seen.get(record.id) === key) return;
    this.#seen.set(record.id, key);
    this.#record({
      at,
      kind: 'session',
      sessionId: record.id,
      name: record.name,
      state: record.state,
      hibernated: record.hibernated,
      executionCap: record.executionCap,
    });
  }

  #record(event: TimelineEvent): void {
    this.#timeline.push(event);
    this.emit('timeline', event);
  }

  /** Writes `daemon.json`; writes requested while one runs are coalesced into one more. */
  #persist(): Promise<void> {
    const { stateDir } = this.#options;
    if (!stateDir) return Promise.resolve();
    this.#dirty = true;
    this.#writing ??= (async () => {
      try {
        while (this.#dirty) {
          this.#dirty = false;
          try {
            await writeDaemonFile(stateDir, this.#content());
          } catch (error) {
            this.emit('warning', `cannot write the daemon file: ${String(error)}`);
          }
        }
      } finally {
        this.#writing = undefined;
      }
    })();
    return this.#writing;
  }

  #content(): DaemonFileContent {
    const live = new Set(this.#host.sessions().map((r) => r.id));
    const pick = <T>(map: Map<string, T>) => Object.fromEntries([...map].filter(([id]) => live.has(id)));
    return {
      version: 1,
      idleTime: this.#idleTime,
      holds: pick(this.#holds),
      lastActions: pick(this.#lastActions),
    };
  }
}

function noop(): void {}

/**
 * Waits for `promise`, or rejects with an aborted `CONTROL` error as soon as `signal`
 * fires; the listener is removed either way. The work behind `promise` goes on.
 */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined, what: string): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(abortedError(what, signal.reason));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortedError(what, signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** The controlled sessions of `records` with their policy, hold and last action (also for a daemon in another process). */
export function controlledSessions(
  records: readonly SessionRecord[],
  holds: ReadonlyMap<string, Hold> | Readonly<Record<string, Hold>>,
  lastActions: ReadonlyMap<string, LastAction> | Readonly<Record<string, LastAction>>,
): ControlledSessionStatus[] {
  const get = <T>(from: ReadonlyMap<string, T> | Readonly<Record<string, T>>, id: string): T | undefined =>
    from instanceof Map ? from.get(id) : (from as Readonly<Record<string, T>>)[id];
  return records
    .filter((r) => r.daemon.controlled)
    .sort((a, b) => a.createdAt - b.createdAt)
    .map((r) => {
      const hold = currentHold(r, get(holds, r.id));
      const lastAction = get(lastActions, r.id);
      return {
        id: r.id,
        name: r.name,
        scope: r.scope,
        state: r.state,
        hibernated: r.hibernated,
        executionCap: r.executionCap,
        stoppedByUser: r.stoppedByUser,
        settings: r.daemon,
        policy: describePolicy(r),
        ...(hold ? { hold } : {}),
        ...(lastAction ? { lastAction } : {}),
      };
    });
}
