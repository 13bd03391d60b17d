import {
  type ActionOptions,
  abortedError,
  type Clock,
  type Daemon,
  systemClock,
  TypedEmitter,
} from '@cvmweb/core';
import { abortable, TaskQueue } from '@cvmweb/core/node';
import type { IdleSource } from '../idle/idle-source.js';
import { defaultIdleSources, type IdleCandidate, pickIdleSource } from '../idle/pick-idle-source.js';
import { type ActionResult, ActionRunner } from './action-runner.js';
import { DaemonMemory } from './daemon-memory.js';
import { controlledSessions, type DaemonStatus } from './daemon-status.js';
import type { DaemonHost, IdleDaemonOptions } from './idle-daemon-options.js';
import { planTick, undoHolds } from './plan-tick.js';
import { PollLoop } from './poll-loop.js';
import { SystemWatch } from './system-watch.js';
import type { SystemState, TimelineEvent } from './timeline.js';
import { TimelineRecorder } from './timeline-recorder.js';

/** Events of the daemon. */
export interface IdleDaemonEvents {
  /** Each timeline event as it happens. */
  timeline: [event: TimelineEvent];
  /** Something went wrong that is not a session action's failure (persisting, reading). */
  warning: [message: string];
}

/**
 * The idle-aware daemon: watches the user's activity through an
 * {@link IdleSource} and applies each controlled session's policy (the original plugin's
 * table in this package's README) through the core Session API with
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
  readonly #memory: DaemonMemory;
  readonly #timeline: TimelineRecorder;
  readonly #system: SystemWatch;
  readonly #actions: ActionRunner;
  readonly #loop: PollLoop;
  #source: IdleSource | undefined;
  #candidates: readonly IdleCandidate[] | undefined;
  #running = false;
  /** Starts and stops, one at a time in call order. */
  readonly #lifecycle = new TaskQueue();
  #lastRefresh = 0;

  constructor(options: IdleDaemonOptions) {
    super();
    this.#host = options.host;
    this.#clock = options.clock ?? systemClock;
    this.#options = options;
    this.#source = options.source;
    const warn = (message: string) => this.emit('warning', message);
    this.#memory = new DaemonMemory({
      stateDir: options.stateDir,
      idleTime: options.idleTime,
      liveIds: () => this.#host.sessions().map((r) => r.id),
      onWarning: warn,
    });
    this.#timeline = new TimelineRecorder({
      ...(options.timelineMs !== undefined ? { horizonMs: options.timelineMs } : {}),
      ...(options.timelineCapacity !== undefined ? { capacity: options.timelineCapacity } : {}),
      onEvent: (event) => this.emit('timeline', event),
    });
    const maxPollMs = options.maxPollMs ?? 5000;
    this.#system = new SystemWatch({
      clock: this.#clock,
      timings: {
        settleMs: options.settleMs ?? 5000,
        idlePollMs: options.idlePollMs ?? 500,
        maxPollMs,
        readTimeoutMs: options.readTimeoutMs ?? 5000,
      },
      onChange: (event) => this.#timeline.record(event),
    });
    this.#actions = new ActionRunner({
      session: (id) => this.#host.session(id),
      clock: this.#clock,
      concurrency: options.concurrency ?? 16,
      onResult: (result) => this.#acted(result),
      onWarning: warn,
      onDone: (acted) => {
        if (acted) this.#loop.wakeUp();
      },
    });
    this.#loop = new PollLoop({
      clock: this.#clock,
      tick: (signal) => this.#tick(signal),
      onError: (error) => {
        warn(`daemon tick failed: ${error instanceof Error ? error.message : String(error)}`);
        return maxPollMs;
      },
    });
  }

  /** The daemon is watching the system and controlling sessions. */
  get isRunning(): boolean {
    return this.#running;
  }
  /** The system is idle (false while active or unknown, and while stopped). */
  get isSystemIdle(): boolean {
    return this.#running && this.#system.state === 'idle';
  }
  /** Seconds without input before the system counts as idle. */
  get idleTime(): number {
    return this.#memory.idleTime;
  }
  /** `in-process`, or the path given. */
  get path(): string {
    return this.#options.path ?? 'in-process';
  }
  /** The system as last seen: `idle`, `active` or `unknown`. */
  get system(): SystemState {
    return this.#system.state;
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
    this.#memory.setIdleTime(seconds);
    this.#loop.wakeUp();
    await abortable(this.#memory.persist(), signal, 'setIdleTime()');
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
    const mine = this.#lifecycle.run(step, { ...(signal ? { signal } : {}), what });
    await (detach ? abortable(mine, signal, what) : mine);
  }

  async #startNow(signal: AbortSignal | undefined): Promise<void> {
    if (this.#running) return;
    const content = await this.#memory.load();
    if (signal?.aborted) throw abortedError('start()', signal.reason);
    let source = this.#source;
    let candidates = this.#candidates;
    if (!source) {
      const pick = await pickIdleSource(defaultIdleSources(), {
        clock: this.#clock,
        ...(signal ? { signal } : {}),
      });
      source = pick.source;
      candidates = pick.candidates;
    }
    if (signal?.aborted) throw abortedError('start()', signal.reason);
    // Nothing changed until here, so an aborted start leaves the daemon as it was.
    this.#source = source;
    this.#candidates = candidates;
    this.#memory.apply(content);
    this.#running = true;
    this.#timeline.record({ at: this.#clock.now(), kind: 'daemon', running: true });
    this.#loop.start();
  }

  async #stopNow(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    await this.#loop.stop();
    await this.whenSettled();
    this.#system.reset();
    this.#timeline.record({ at: this.#clock.now(), kind: 'daemon', running: false });
    await this.#memory.persist();
  }

  /** Resolves when no session action of the daemon is in flight and the file is written. */
  async whenSettled(): Promise<void> {
    for (let quiet = 0; quiet < 2; ) {
      const busy = [...this.#actions.inflight(), this.#loop.ticking, this.#memory.writing].filter(Boolean);
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
    const { reading, readAt } = this.#system;
    return {
      running: this.#running,
      path: this.path,
      idleTime: this.#memory.idleTime,
      source: this.#source?.name ?? 'none',
      ...(this.#candidates ? { candidates: this.#candidates } : {}),
      ...(reading ? { reading } : {}),
      ...(readAt !== undefined ? { readAt } : {}),
      system: this.#running ? this.#system.state : 'unknown',
      sessions: controlledSessions(this.#host.sessions(), this.#memory.holds, this.#memory.lastActions),
    };
  }

  /** One pass: read the source, update the system state, plan and launch actions. Returns the next delay, ms. */
  async #tick(signal: AbortSignal): Promise<number> {
    const { state, at, delayMs } = await this.#system.update(this.#source, this.#memory.idleTime, signal);
    const records = this.#host.sessions().filter((r) => r.daemon.controlled);
    const refreshMs = this.#options.refreshMs ?? 60_000;
    const refreshDue = refreshMs > 0 && at - this.#lastRefresh >= refreshMs;
    if (refreshDue) this.#lastRefresh = at;
    for (const record of records) this.#timeline.noteSession(record, at);
    this.#timeline.keepSessions(new Set(records.map((r) => r.id)));
    const plan = planTick({
      records,
      system: state,
      at,
      refreshDue,
      minActionIntervalMs: this.#options.minActionIntervalMs ?? 30_000,
      holds: this.#memory.holds,
      lastActions: this.#memory.lastActions,
      busy: (id) => this.#actions.busy(id),
    });
    for (const record of plan.refreshes) this.#actions.launch(record, undefined);
    // Holds are written before the actions they describe, so a crash in between is recoverable.
    if (plan.holdsChanged) await this.#memory.persist();
    if (signal.aborted) {
      // Stopped while writing: start no action after stop(), and take back the holds that
      // described them (stop() writes the file again), or a VM the user pauses later would
      // pass for one the daemon paused.
      undoHolds(plan.launches, this.#memory.holds);
      throw abortedError('the daemon tick', signal.reason);
    }
    for (const { record, plan: action } of plan.launches) this.#actions.launch(record, action);
    return Math.min(delayMs, plan.retryInMs ?? delayMs);
  }

  /** Remembers and records how an action ended. */
  #acted({ record, plan, session, at, error }: ActionResult): void {
    const cap = plan.action === 'setExecutionCap' ? { cap: plan.cap } : {};
    const failure = error !== undefined ? { error } : {};
    this.#memory.lastActions.set(record.id, {
      action: plan.action,
      ...cap,
      at,
      ok: error === undefined,
      ...failure,
      why: plan.why,
    });
    this.#timeline.record({
      at,
      kind: 'action',
      sessionId: record.id,
      name: record.name,
      action: plan.action,
      ...cap,
      ok: error === undefined,
      ...failure,
    });
    this.#timeline.noteSession(session.record, at);
    void this.#memory.persist();
  }
}
