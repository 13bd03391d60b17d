import { copyFile, rename, rm } from 'node:fs/promises';
import {
  type ActionOptions,
  type ApiEndpoint,
  type DisplayEndpoint,
  HypervisorError,
  isHypervisorError,
  type ProgressOptions,
  type StartSpec,
  type StopCause,
  type VmHandle,
  type VmPowerState,
} from '@cvmweb/core';
import {
  abortable,
  isLoopbackPortFree,
  releaseLoopbackPort,
  reserveFreeLoopbackPort,
  sleep,
} from '@cvmweb/core/node';
import { aarch64FirmwareFix } from './firmware.js';
import { ensureProperties, readProperties, writeProperty } from './guest-properties.js';
import { receiveMigration, sendMigration } from './migration-file.js';
import { buildQemuArgs, GUEST_IP } from './qemu-args.js';
import { type Call, callOf, type QemuContext } from './qemu-context.js';
import {
  type QmpExecute,
  readQemuDisplay,
  reserveVncDisplay,
  setDisplayPassword,
  takeQemuScreenshot,
} from './qemu-display.js';
import { liveQemu, powerStateOf } from './qemu-process.js';
import { QmpClient } from './qmp-client.js';
import {
  ensureSocketDir,
  fileExists as exists,
  removeVmFiles,
  type VmMarker,
  type VmPaths,
  vmPaths,
  writeMarker,
} from './vm-directory.js';

/** QEMU's refusal when the forward's host port is taken. */
const HOSTFWD_FAILED = /hostfwd|host forwarding rule/i;

/** The QMP command connection is closed after this long unused, so another process can connect. */
const IDLE_CLOSE_MS = 1000;

/** One VM: a folder with our marker, and a daemonised QEMU while it runs. */
export class QemuVm implements VmHandle {
  readonly id: string;
  readonly name: string;
  readonly #context: QemuContext;
  readonly #paths: VmPaths;
  #marker: VmMarker;
  #qmp: Promise<QmpClient> | undefined;
  #busy = 0;
  #idle: NodeJS.Timeout | undefined;

  constructor(context: QemuContext, marker: VmMarker) {
    this.#context = context;
    this.#marker = marker;
    this.id = marker.id;
    this.name = marker.name;
    this.#paths = vmPaths(context.root, marker.name);
  }

  /** The VM's files (tests and the hypervisor). */
  get paths(): VmPaths {
    return this.#paths;
  }

  async state(options: ActionOptions = {}): Promise<VmPowerState> {
    const pid = await liveQemu(this.#paths.pid);
    if (pid === undefined) return (await exists(this.#paths.saved)) ? 'saved' : 'poweroff';
    let status: string;
    try {
      status = (await this.#execute<{ status: string }>('query-status', undefined, options)).status;
    } catch (error) {
      // Ended between the two looks.
      if ((await liveQemu(this.#paths.pid)) === undefined) return this.state(options);
      throw new HypervisorError('QUERY', `${this.name}: QEMU does not answer: ${String(error)}`, {
        cause: error,
      });
    }
    return powerStateOf(status);
  }

  async stopCause(): Promise<StopCause | undefined> {
    return this.#context.events.stopCause(this.id);
  }

  async start(spec: StartSpec, options: ProgressOptions = {}): Promise<void> {
    const call = callOf(options);
    const before = await this.state(call);
    if (before === 'running' || before === 'paused') {
      throw new HypervisorError('INVALID_STATE', `${this.name} is already ${before}`, {
        details: { state: before },
      });
    }
    if (before === 'saved') {
      await this.#restore(call);
    } else {
      if (spec.context.path === '') {
        throw new HypervisorError('INVALID_USAGE', `${this.name}: no context medium to boot with`, {
          details: { field: 'context' },
        });
      }
      await copyFile(spec.context.path, this.#paths.context);
      if (!(await isLoopbackPortFree(this.#marker.apiPort))) await this.#movePort(call);
      try {
        await this.#launch(false, call);
      } catch (error) {
        const stderr = isHypervisorError(error) ? String(error.details['stderr'] ?? '') : '';
        if (!HOSTFWD_FAILED.test(stderr)) throw error;
        await this.#movePort(call);
        await this.#launch(false, call);
      }
    }
    void this.#context.events.follow(this.id, this.#paths.events);
  }

  async stop(options: ProgressOptions & { timeoutMs?: number } = {}): Promise<void> {
    const call = callOf(options);
    const state = await this.state(call);
    if (state === 'poweroff') return;
    if (state === 'saved') {
      await rm(this.#paths.saved, { force: true });
      return;
    }
    if (state === 'paused') await this.#execute('cont', undefined, call);
    const timeoutMs = options.timeoutMs ?? this.#context.shutdownTimeoutMs;
    const asked = await this.#execute('system_powerdown', undefined, call).then(
      () => true,
      (error: unknown) => {
        if (isHypervisorError(error) && error.aborted) throw error;
        return false;
      },
    );
    if (asked && (await this.#waitGone(timeoutMs, call))) return;
    await this.#end(call);
  }

  async destroy(options: ProgressOptions = {}): Promise<void> {
    // Removal finishes even when the caller gives up: a half-removed VM is worse.
    await this.#end({ onDebug: options.onDebug });
    this.release();
    await this.#context.cpuCap?.remove(this.name);
    await removeVmFiles(this.#paths);
    releaseLoopbackPort(this.#marker.apiPort);
  }

  async pause(options: ActionOptions = {}): Promise<void> {
    await this.#execute('stop', undefined, options);
  }

  async resume(options: ActionOptions = {}): Promise<void> {
    await this.#execute('cont', undefined, options);
  }

  async reset(options: ActionOptions = {}): Promise<void> {
    await this.#execute('system_reset', undefined, options);
  }

  /** Sets a property the guest reads through fw_cfg (`opt/cvmweb/properties`) from its next launch. */
  async setProperty(key: string, value: string): Promise<void> {
    await writeProperty(this.#paths.properties, key, value);
  }

  /** A property as set for the guest; `undefined` when unset. */
  async getProperty(key: string): Promise<string | undefined> {
    const properties = await readProperties(this.#paths.properties);
    return Object.hasOwn(properties, key) ? properties[key] : undefined;
  }

  /** Records the cap for each launch and, while QEMU runs, applies it at once (cgroup v2 `cpu.max`). */
  async setExecutionCap(cap: number): Promise<void> {
    this.#marker = { ...this.#marker, executionCap: cap };
    await writeMarker(this.#paths.dir, this.#marker);
    const pid = await liveQemu(this.#paths.pid);
    if (pid !== undefined) await this.#applyCap(pid);
  }

  /**
   * Migrates the VM's memory and devices into `hibernated.state` in its folder (through a unix
   * socket this process listens on), then ends QEMU. `start()` restores it with `-incoming`.
   */
  async hibernate(options: ProgressOptions = {}): Promise<void> {
    const call = callOf(options);
    const partial = `${this.#paths.saved}.partial`;
    const receiver = await receiveMigration(this.#paths.migration, partial);
    try {
      await this.#execute('migrate-set-parameters', { 'max-bandwidth': 2 ** 40 }, call);
      await this.#execute('migrate', { uri: `unix:${this.#paths.migration}` }, call);
      await this.#waitMigration(call);
      await receiver.done;
      await rename(partial, this.#paths.saved);
    } catch (error) {
      receiver.close();
      await this.#execute('migrate_cancel', undefined, {}).catch(() => undefined);
      await rm(partial, { force: true });
      throw error;
    } finally {
      await rm(this.#paths.migration, { force: true });
    }
    await this.#end(call);
  }

  /** The running QEMU's VNC display (QMP `query-vnc`) with this launch's password. */
  async display(options: ActionOptions = {}): Promise<DisplayEndpoint | undefined> {
    if ((await liveQemu(this.#paths.pid)) === undefined) return undefined;
    return readQemuDisplay(this.#qmpExecute, this.#paths.displayPassword, options);
  }

  /** The running QEMU's screen (QMP `screendump`) as a PNG. */
  screenshot(options: ActionOptions = {}): Promise<Uint8Array> {
    return takeQemuScreenshot(this.#qmpExecute, options);
  }

  apiEndpoint(): ApiEndpoint | undefined {
    return { host: '127.0.0.1', port: this.#marker.apiPort, guestIp: GUEST_IP };
  }

  /** Closes this handle's QMP connection (the VM keeps running). */
  release(): void {
    clearTimeout(this.#idle);
    void this.#qmp?.then(
      (client) => client.close(),
      () => undefined,
    );
    this.#qmp = undefined;
  }

  /** Runs QEMU daemonised (it outlives this process) and waits until QMP answers. */
  async #launch(incoming: boolean, call: Call): Promise<void> {
    const { runner, binary } = this.#context;
    if (this.#context.arch === 'aarch64' && this.#marker.boot.kind !== 'kernel' && !this.#context.firmware) {
      throw new HypervisorError('EXTERNAL', `${this.name}: no aarch64 UEFI firmware to boot it with`, {
        details: { fix: aarch64FirmwareFix(process.platform) },
      });
    }
    await ensureSocketDir(this.#paths);
    await ensureProperties(this.#paths.properties);
    await rm(this.#paths.pid, { force: true });
    const vnc = await reserveVncDisplay();
    const args = buildQemuArgs({
      marker: this.#marker,
      paths: this.#paths,
      accelerator: this.#context.accelerator,
      arch: this.#context.arch,
      incoming,
      serialLog: this.#context.serialLog,
      firmware: this.#context.firmware,
      vncDisplay: vnc.display,
    });
    try {
      await runner.run(binary, args, {
        timeoutMs: this.#context.commandTimeoutMs,
        signal: call.signal,
        onDebug: call.onDebug,
      });
      await this.#execute('query-status', undefined, call);
      await setDisplayPassword(this.#qmpExecute, this.#paths.displayPassword, call);
      const pid = await liveQemu(this.#paths.pid);
      if (pid !== undefined) await this.#applyCap(pid);
    } catch (error) {
      // The daemon may be up even though its parent was stopped: nothing may stay behind.
      await this.#end({ onDebug: call.onDebug });
      if (isHypervisorError(error) && error.aborted) throw error;
      throw new HypervisorError('CONTROL', `${this.name}: QEMU did not start: ${String(error)}`, {
        cause: error,
        details: isHypervisorError(error) ? error.details : {},
      });
    } finally {
      vnc.release();
    }
  }

  async #restore(call: Call): Promise<void> {
    await this.#launch(true, call);
    try {
      await this.#execute('migrate-incoming', { uri: `unix:${this.#paths.migration}` }, call);
      await sendMigration(this.#paths.migration, this.#paths.saved);
      await this.#waitMigration(call);
      const { status } = await this.#execute<{ status: string }>('query-status', undefined, call);
      if (status !== 'running') await this.#execute('cont', undefined, call);
    } catch (error) {
      await this.#end({ onDebug: call.onDebug });
      throw isHypervisorError(error)
        ? error
        : new HypervisorError('CONTROL', `${this.name}: restoring failed: ${String(error)}`, {
            cause: error,
          });
    } finally {
      await rm(this.#paths.migration, { force: true });
    }
    await rm(this.#paths.saved, { force: true });
  }

  /** Moves QEMU `pid` into the VM's capped cgroup (none needed while the cap is 100 and none exists). */
  async #applyCap(pid: number): Promise<void> {
    const cap = this.#marker.executionCap ?? 100;
    const cgroup = this.#context.cpuCap;
    if (!cgroup || (cap >= 100 && !(await exists(cgroup.vmDir(this.name))))) return;
    await cgroup.apply(this.name, pid, cap, this.#marker.cpus);
  }

  /** Waits until the migration (outgoing or incoming) has completed; rejects when it failed. */
  async #waitMigration(call: Call): Promise<void> {
    const deadline = Date.now() + 10 * 60_000;
    let delay = 20;
    for (;;) {
      const { status } = await this.#execute<{ status?: string }>('query-migrate', undefined, call);
      if (status === 'completed') return;
      if (status === 'failed' || status === 'cancelled' || Date.now() > deadline) {
        throw new HypervisorError('CONTROL', `${this.name}: migration ${status ?? 'timed out'}`, {
          details: { status },
        });
      }
      await sleep(delay, { signal: call.signal, what: `migrating ${this.name}` });
      delay = Math.min(delay * 2, 200);
    }
  }

  /** Ends QEMU: `quit` over QMP, then SIGKILL; resolves once it is gone. */
  async #end(call: Call): Promise<void> {
    const pid = await liveQemu(this.#paths.pid);
    if (pid === undefined) return;
    const quit = await this.#execute('quit', undefined, { timeoutMs: 2000 }).then(
      () => true,
      () => false,
    );
    if (quit && (await this.#waitGone(5000, {}))) return;
    call.onDebug?.(`${this.name}: QEMU ${pid} did not quit, killing it`);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    if (!(await this.#waitGone(10_000, {}))) {
      throw new HypervisorError('CONTROL', `${this.name}: QEMU ${pid} does not end`, { details: { pid } });
    }
  }

  /** Polls until QEMU has ended; false after `timeoutMs`. */
  async #waitGone(timeoutMs: number, call: Call): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    let delay = 20;
    while ((await liveQemu(this.#paths.pid)) !== undefined) {
      if (Date.now() >= deadline) return false;
      await sleep(delay, { signal: call.signal, what: `waiting for ${this.name} to end` });
      delay = Math.min(delay * 2, 250);
    }
    this.release();
    await this.#context.cpuCap?.remove(this.name);
    return true;
  }

  /** Gives the powered-off VM a new free API port, recorded in its marker. */
  async #movePort(call: Call): Promise<void> {
    const old = this.#marker.apiPort;
    const port = await reserveFreeLoopbackPort();
    this.#marker = { ...this.#marker, apiPort: port };
    await writeMarker(this.#paths.dir, this.#marker);
    releaseLoopbackPort(old);
    call.onDebug?.(`${this.name}: API port ${old} is taken, moved to ${port}`);
  }

  readonly #qmpExecute: QmpExecute = (command, args, options) => this.#execute(command, args, options);

  /** Runs one QMP command on this VM's command monitor (one connection, closed when idle). */
  async #execute<T = unknown>(
    command: string,
    args: Record<string, unknown> | undefined,
    call: Call & { timeoutMs?: number },
  ): Promise<T> {
    clearTimeout(this.#idle);
    this.#busy++;
    try {
      if (!this.#qmp || (await this.#qmp.catch(() => undefined))?.isClosed !== false) {
        this.#qmp = QmpClient.connect(this.#paths.qmp, {
          timeoutMs: Math.min(call.timeoutMs ?? 10_000, 10_000),
        });
      }
      const client = await abortable(this.#qmp, call.signal, `QMP ${command}`);
      // A password (the display's) never reaches the debug stream.
      const shown = args && 'password' in args ? { ...args, password: '…' } : args;
      call.onDebug?.(`QMP ${command}${shown ? ` ${JSON.stringify(shown)}` : ''} (${this.name})`);
      return await client.execute<T>(command, args, call);
    } finally {
      if (--this.#busy === 0) {
        this.#idle = setTimeout(() => this.release(), IDLE_CLOSE_MS);
        this.#idle.unref();
      }
    }
  }
}
