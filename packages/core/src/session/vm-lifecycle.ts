import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ActionOptions } from '../action-options.js';
import {
  buildContextMedium,
  CONTEXT_MEDIUM_FILE_NAME,
  MAX_USER_DATA_BYTES,
} from '../context/build-context-medium.js';
import type { ContextFormat, ContextMedium } from '../context/context-medium.js';
import { expandPlaceholders } from '../context/expand-placeholders.js';
import type { GuardedVm } from '../driver/guarded-driver.js';
import { HypervisorError } from '../errors/hypervisor-error.js';
import type { Requirements } from '../registry/session-record.js';
import { keepBootUserData, readBootUserData } from './boot-user-data.js';
import { debugScreenshot } from './debug-screenshot.js';
import { validateRequirements } from './requirements.js';
import type { SessionParts } from './session-context.js';
import type { SessionActionOptions, StartOptions } from './session-options.js';
import type { RecordChange } from './session-record-store.js';

/** The actions that change the VM itself: its creation, its power, its removal. */
type PowerAction = 'pause' | 'resume' | 'reset' | 'stop' | 'hibernate';

/**
 * The actions of a session that change its VM: `open` creates it, `start` boots (or restores)
 * it, `pause`, `resume`, `reset`, `stop` and `hibernate` change its power, `close` removes it.
 * Bad arguments reject at call time with `INVALID_USAGE` (-99); the rest runs in turn through the
 * session's {@link ActionRunner}, which checks and moves the state as the action table says.
 * @internal
 */
export class VmLifecycle {
  readonly #parts: SessionParts;

  constructor(parts: SessionParts) {
    this.#parts = parts;
  }

  /** Creates the VM with `requirements` (the original plugin's defaults for missing fields). */
  open(requirements: Partial<Requirements> | undefined, options?: SessionActionOptions): Promise<void> {
    let checked: Requirements;
    try {
      checked = validateRequirements(requirements);
    } catch (error) {
      return Promise.reject(error);
    }
    const { context, record, vm, runner } = this.#parts;
    const landing = { failure: { vmId: undefined, driver: undefined } };
    return runner.run(
      'open',
      options?.signal,
      async (turn) => {
        // The driver is recorded up front, so reconcile() can finish an open cut short by a crash.
        await turn.begin({ requirements: checked, driver: context.hypervisor.name, hibernated: false });
        const progress = turn.progress(1, 'Virtual machine created');
        progress.phase(0, 'Creating the virtual machine');
        let created: GuardedVm | undefined;
        try {
          await mkdir(vm.directory, { recursive: true, mode: 0o700 });
          const { id, vmName, executionCap } = record.current;
          created = await context.hypervisor.createVm(
            {
              sessionId: id,
              name: vmName,
              cpus: checked.cpus,
              ram: checked.ram,
              disk: checked.disk,
              executionCap,
              image: context.image(checked.version),
              directory: vm.directory,
            },
            turn.driverOptions(),
          );
          vm.set(created);
          await record.save({ vmId: created.id });
        } catch (error) {
          // A VM the registry could not record would be an orphan: remove it.
          await created?.destroy().catch(() => undefined);
          vm.set(undefined);
          await rm(vm.directory, { recursive: true, force: true }).catch(() => undefined);
          throw error;
        }
      },
      landing,
    );
  }

  /** Boots the VM with `userData`, or restores it when hibernated (see `Session.start`). */
  start(userData: string, options?: StartOptions): Promise<void> {
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
    const { context, record, vm, runner } = this.#parts;
    const again = options?.again === true;
    return runner.run(
      'start',
      options?.signal,
      async (turn) => {
        const { signal } = turn;
        const handle = await vm.require(signal);
        const restoring = record.current.hibernated;
        // The text of the last boot; a record of an earlier version may still hold it instead.
        const kept = restoring || again ? await readBootUserData(vm.directory, signal) : undefined;
        const bootData =
          kept ??
          (restoring || again ? record.current.userData : undefined) ??
          (again ? undefined : expanded);
        if (bootData === undefined) {
          throw new HypervisorError(
            'INVALID_STATE',
            'the virtual machine has no earlier boot to start again',
            {
              details: { sessionId: record.current.id },
            },
          );
        }
        // The registry keeps no user data (an earlier version's copy is dropped here).
        await turn.begin({ userData: undefined, stoppedByUser: false });
        const progress = turn.progress(restoring ? 1 : 2, 'Virtual machine running');
        const format = context.image(record.current.requirements.version).context;
        // A restore, or a start again, keeps the medium of the last boot, still in the VM's directory.
        let medium = restoring || again ? await this.#existingMedium(format) : undefined;
        if (!medium) {
          progress.phase(0, 'Writing the user data medium');
          medium = await buildContextMedium({
            format,
            userData: bootData,
            directory: vm.directory,
            instanceId: record.current.id,
            hostname: record.current.vmName,
            signal,
          });
        }
        if (kept !== bootData) await keepBootUserData(vm.directory, bootData, signal);
        progress.phase(
          restoring ? 0 : 1,
          restoring ? 'Restoring the virtual machine' : 'Booting the virtual machine',
        );
        try {
          await handle.start({ userData: bootData, context: medium }, turn.driverOptions());
        } catch (error) {
          // What the guest's screen showed may explain it (a driver that left the VM running).
          if (context.hypervisor.capabilities.screenshot && !signal?.aborted) {
            const why = `start failed: ${error instanceof Error ? error.message : String(error)}`;
            await debugScreenshot(handle, why, (...args) => this.#parts.emit('debug', ...args));
          }
          throw error;
        }
      },
      { success: { hibernated: false } },
    );
  }

  /** Freezes the running VM. */
  pause(options?: SessionActionOptions): Promise<void> {
    return this.#power('pause', options, (vm, o) => vm.pause(o), { stoppedByUser: byUser(options) });
  }

  /** Thaws the paused VM. */
  resume(options?: SessionActionOptions): Promise<void> {
    return this.#power('resume', options, (vm, o) => vm.resume(o), { stoppedByUser: false });
  }

  /** Hard-resets the running VM. */
  reset(options?: SessionActionOptions): Promise<void> {
    return this.#power('reset', options, (vm, o) => vm.reset(o));
  }

  /** Powers the VM off (ACPI first, then forced). */
  stop(options?: SessionActionOptions): Promise<void> {
    const { stopTimeoutMs } = this.#parts.context;
    return this.#power(
      'stop',
      options,
      (vm, o) => vm.stop({ ...o, ...(stopTimeoutMs ? { timeoutMs: stopTimeoutMs } : {}) }),
      { hibernated: false, stoppedByUser: byUser(options) },
    );
  }

  /** Saves the VM's memory and powers it off. */
  hibernate(options?: SessionActionOptions): Promise<void> {
    return this.#power('hibernate', options, (vm, o) => vm.hibernate(o), {
      hibernated: true,
      stoppedByUser: byUser(options),
    });
  }

  /** Removes the VM and everything made for it; the session stays owned and can be opened again. */
  close(options?: SessionActionOptions): Promise<void> {
    const { vm, runner } = this.#parts;
    return runner.run(
      'close',
      options?.signal,
      async (turn) => {
        await turn.begin();
        const progress = turn.progress(2, 'Session closed');
        progress.phase(0, 'Removing the virtual machine');
        await (await vm.find())?.destroy(turn.driverOptions());
        progress.phase(1, 'Removing session files');
        await rm(vm.directory, { recursive: true, force: true });
        vm.set(undefined);
      },
      {
        success: {
          vmId: undefined,
          driver: undefined,
          hibernated: false,
          stoppedByUser: byUser(options),
          userData: undefined,
        },
      },
    );
  }

  /** One of the short actions on the VM's power; only what the driver reports is progress. */
  #power(
    action: PowerAction,
    options: SessionActionOptions | undefined,
    call: (vm: GuardedVm, options: ActionOptions) => Promise<void>,
    success: RecordChange = {},
  ): Promise<void> {
    const { vm, runner } = this.#parts;
    return runner.run(
      action,
      options?.signal,
      async (turn) => {
        const handle = await vm.require(turn.signal);
        await turn.begin();
        turn.progress(1);
        await call(handle, turn.driverOptions());
      },
      { success },
    );
  }

  async #existingMedium(format: ContextFormat): Promise<ContextMedium | undefined> {
    const path = join(this.#parts.vm.directory, CONTEXT_MEDIUM_FILE_NAME);
    const info = await stat(path).catch(() => undefined);
    return info ? { format, path, size: info.size } : undefined;
  }
}

/** The user's own decision (not the daemon's): see `Session.stoppedByUser`. */
function byUser(options: SessionActionOptions | undefined): boolean {
  return (options?.initiator ?? 'user') === 'user';
}
