import type { Clock, Session, SessionRecord } from '@cvmweb/core';
import { TaskQueue } from '@cvmweb/core/node';
import type { PlannedAction } from '../policy/daemon-policy.js';

/** How one action of the daemon on a session ended. */
export interface ActionResult {
  readonly record: SessionRecord;
  readonly plan: PlannedAction;
  /** The session after the action (its record is the hypervisor's view when the action failed). */
  readonly session: Session;
  /** When it ended, on the clock. */
  readonly at: number;
  /** The failure's message, when it failed. */
  readonly error?: string;
}

/** Options of {@link ActionRunner}. */
export interface ActionRunnerOptions {
  /** The live session object of an id (a `Cvmweb`'s `session()`). */
  session(id: string): Promise<Session | undefined>;
  clock: Clock;
  /** Session actions run at once, at most. */
  concurrency: number;
  /** Told of each action's end (not of refreshes). */
  onResult(result: ActionResult): void;
  /** Told when a task fails outside the action (finding the session). */
  onWarning(message: string): void;
  /** Told when a task (action or refresh) is over, `acted` when it was an action. */
  onDone(acted: boolean): void;
}

/**
 * Runs the daemon's actions on sessions in the background: one at a time per session (the
 * daemon plans nothing for a busy session), at most `concurrency` at once. Each action goes
 * through the core Session API with `initiator: 'daemon'`; after a failure the session is
 * refreshed from the hypervisor, since the daemon's view may be stale.
 */
export class ActionRunner {
  readonly #options: ActionRunnerOptions;
  readonly #inflight = new Map<string, Promise<void>>();
  /** Where tasks wait for one of the `concurrency` places. */
  readonly #places: TaskQueue;

  constructor(options: ActionRunnerOptions) {
    this.#options = options;
    this.#places = new TaskQueue({ concurrency: options.concurrency });
  }

  /** An action (or refresh) of the daemon on this session is under way or waiting for its turn. */
  busy(id: string): boolean {
    return this.#inflight.has(id);
  }

  /** The tasks under way: each settles when its task is over, and never rejects. */
  inflight(): Promise<void>[] {
    return [...this.#inflight.values()];
  }

  /** Runs `plan` on the session of `record` in the background, or only refreshes it without a plan. */
  launch(record: SessionRecord, plan: PlannedAction | undefined): void {
    const tracked = this.#places
      .run(() => this.#run(record, plan))
      .catch((error: unknown) =>
        this.#options.onWarning(
          `session ${record.name}: ${error instanceof Error ? error.message : String(error)}`,
        ),
      )
      .finally(() => {
        if (this.#inflight.get(record.id) === tracked) this.#inflight.delete(record.id);
        this.#options.onDone(plan !== undefined);
      });
    this.#inflight.set(record.id, tracked);
  }

  async #run(record: SessionRecord, plan: PlannedAction | undefined): Promise<void> {
    const session = await this.#options.session(record.id);
    if (!session) return;
    if (!plan) {
      await session.refresh().catch(() => undefined);
      return;
    }
    let error: string | undefined;
    try {
      await apply(session, plan);
    } catch (failure) {
      error = failure instanceof Error ? failure.message : String(failure);
      // Our view may be stale (the VM changed behind our back): ask the hypervisor.
      await session.refresh().catch(() => undefined);
    }
    const at = this.#options.clock.now();
    this.#options.onResult({ record, plan, session, at, ...(error !== undefined ? { error } : {}) });
  }
}

/** Runs `plan` on `session` as the daemon. */
async function apply(session: Session, plan: PlannedAction): Promise<void> {
  const options = { initiator: 'daemon' as const };
  switch (plan.action) {
    case 'setExecutionCap':
      return session.setExecutionCap(plan.cap, options);
    case 'pause':
      return session.pause(options);
    case 'resume':
      return session.resume(options);
    case 'hibernate':
      return session.hibernate(options);
    case 'start':
      // The user data of the VM's last boot (kept in its directory, never in the registry).
      return session.start('', { ...options, again: true });
  }
}
