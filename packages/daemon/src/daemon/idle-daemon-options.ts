import type { ActionOptions, Clock, Session, SessionRecord } from '@cvmweb/core';
import type { IdleSource } from '../idle/idle-source.js';

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
  /** Default the system clock; tests pass core's `ManualClock`. Every timer of the daemon runs on it. */
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
  /** The most events the timeline keeps (default 10 000). */
  timelineCapacity?: number;
  /** Time limit of one read of the source, ms. Default 5000. */
  readTimeoutMs?: number;
}
