import type { ProgressOptions } from '../action-options.js';
import type { Clock } from '../clock/clock.js';
import { TaskQueue } from '../concurrency/task-queue.js';
import { toHypervisorError } from '../errors/hypervisor-error.js';
import { actionTable, assertLegal, landingState, type SessionAction } from '../state/action-table.js';
import type { SessionStateValue } from '../state/session-state.js';
import { ProgressCounter } from './progress-counter.js';
import type { ActionErrorEvent, EmitSessionEvent } from './session-events.js';
import { originalEventNames } from './session-events.js';
import type { RecordChange, SessionRecordStore } from './session-record-store.js';

/** What the body of an action is given when its turn comes. @internal */
export interface ActionTurn {
  /** The action's signal. */
  readonly signal: AbortSignal | undefined;
  /**
   * The action starts on the VM: records it as pending, in the table's `via` state when the
   * action has one (`Opening`, `Starting`), with `fields`. From here on the action lands where
   * the table says: in its `to` state when the body returns, in its `onFailure` state when the
   * body throws. The API watch stops unless the action lands in `Started`.
   */
  begin(fields?: RecordChange): Promise<void>;
  /**
   * The action's one progress counter, in `phases` equal parts. When the action succeeds and
   * the counter reported anything, it finishes with `finished`.
   */
  progress(phases: number, finished?: string): ProgressCounter;
  /** Options for a driver call: the signal, the progress counter's steps, `debug` events. */
  driverOptions(): ProgressOptions;
}

/** Fields written with the state an action lands in. @internal */
export interface Landing {
  /** Written with the table's `to` state when the action succeeds. */
  readonly success?: RecordChange;
  /** Written with the table's `onFailure` state when the action fails after it began. */
  readonly failure?: RecordChange;
}

/** What an {@link ActionRunner} works with. @internal */
export interface ActionRunnerParts {
  readonly record: SessionRecordStore;
  readonly clock: Clock;
  readonly emit: EmitSessionEvent;
}

const withEvents: ReadonlySet<string> = new Set(originalEventNames);

/**
 * Runs a session's actions one at a time, in call order, and moves the session as the action
 * table ({@link actionTable}) says, and only as it says: when an action's turn comes it is
 * refused with `INVALID_STATE` (-8) unless the table allows it in the state the session is in
 * then; once the action began it shows the table's `via` state while it runs and lands in the
 * table's `to` or `onFailure` state. An action with events of its own (`open` … `reset`) fires
 * `<action>` or `<action>Error(message, code)`; every failure of an action that was allowed
 * fires `error(message, code, action)`.
 * @internal
 */
export class ActionRunner {
  readonly #parts: ActionRunnerParts;
  readonly #queue = new TaskQueue();

  constructor(parts: ActionRunnerParts) {
    this.#parts = parts;
  }

  /** An action (or other queued work) is running or waiting. */
  get busy(): boolean {
    return this.#queue.busy;
  }

  /**
   * Runs `work` in turn with the actions, for work that is no action of the table (reading the
   * hypervisor, the daemon settings): it is legal in every state and changes no state itself.
   * Aborted while waiting, it rejects with `CONTROL` (-3) and `aborted: true`.
   */
  enqueue<T>(signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
    return this.#queue.run(work, { signal, what: 'the action' });
  }

  /** Runs `action` in turn: the table's legality check, then `body`, then the landing and the events. */
  run<T>(
    action: SessionAction,
    signal: AbortSignal | undefined,
    body: (turn: ActionTurn) => Promise<T>,
    landing: Landing = {},
  ): Promise<T> {
    return this.#queue.run(() => this.#turn(action, signal, body, landing), { signal, what: 'the action' });
  }

  async #turn<T>(
    action: SessionAction,
    signal: AbortSignal | undefined,
    body: (turn: ActionTurn) => Promise<T>,
    landing: Landing,
  ): Promise<T> {
    const { record, emit } = this.#parts;
    const from = record.current.state;
    assertLegal(action, from);
    let begun = false;
    let landed = false;
    let counter: { progress: ProgressCounter; finished: string } | undefined;
    const turn: ActionTurn = {
      signal,
      begin: async (fields = {}) => {
        await record.save({
          ...fields,
          state: actionTable[action].via ?? from,
          pending: { action, since: this.#parts.clock.now() },
        });
        begun = true;
      },
      progress: (phases, finished = `${action}() finished`) => {
        const progress = new ProgressCounter(phases, (done, total, message) =>
          emit('progress', done, total, message),
        );
        counter = { progress, finished };
        return progress;
      },
      driverOptions: () => ({
        signal,
        ...(counter ? { onProgress: counter.progress.step } : {}),
        onDebug: (message: string) => emit('debug', message),
      }),
    };
    try {
      const result = await body(turn);
      if (begun) {
        landed = true;
        await this.#land(action, from, true, landing.success);
      }
      if (counter?.progress.reported) counter.progress.finish(counter.finished);
      if (withEvents.has(action)) emit(action as ActionWithEvents);
      return result;
    } catch (raw) {
      if (begun && !landed) await this.#land(action, from, false, landing.failure).catch(() => undefined);
      const error = toHypervisorError(raw, 'CONTROL', `${action}() failed`, { action });
      if (withEvents.has(action)) emit(`${action}Error` as ActionErrorEvent, error.message, error.code);
      emit('error', error.message, error.code, action);
      throw error;
    }
  }

  /** Writes the state the table gives for the outcome, with `fields`; the action is no longer pending. */
  #land(action: SessionAction, from: SessionStateValue, ok: boolean, fields: RecordChange = {}) {
    return this.#parts.record.commit({
      ...fields,
      state: landingState(action, from, ok),
      pending: undefined,
    });
  }
}

type ActionWithEvents = SessionAction & (typeof originalEventNames)[number];
