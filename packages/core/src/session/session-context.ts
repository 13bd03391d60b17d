import type { Clock } from '../clock/clock.js';
import type { GuardedHypervisor } from '../driver/guarded-driver.js';
import type { ApiWatchTiming } from '../guest/api-watcher.js';
import type { ImageSource } from '../images/image-source.js';
import type { SessionRegistry } from '../registry/session-registry.js';
import type { ActionRunner } from './action-runner.js';
import type { EmitSessionEvent } from './session-events.js';
import type { SessionRecordStore } from './session-record-store.js';
import type { SessionVm } from './session-vm.js';

/** What a session needs from the entry point that made it (not exported from the package). */
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

/** The parts of one session that its actions work with. @internal */
export interface SessionParts {
  readonly context: SessionContext;
  /** The session's record, in memory and in the registry. */
  readonly record: SessionRecordStore;
  /** The driver's handle of the session's VM and the VM's own directory. */
  readonly vm: SessionVm;
  /** Runs the session's actions one at a time, as the action table says. */
  readonly runner: ActionRunner;
  readonly emit: EmitSessionEvent;
}
