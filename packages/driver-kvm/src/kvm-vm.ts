import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
import { moveApiForward } from './domain-definition.js';
import type { DomainEvents } from './domain-events.js';
import { readDisplay, takeScreenshot } from './kvm-display.js';
import { installationTag, legacyVolumeNames, ownVolumeName, ownVolumeNames } from './own-volume-name.js';
import type { StoragePool } from './storage-pool.js';
import { isNotFound, isVirshFailure, type Virsh } from './virsh.js';
import { parseDomState, parseKeyValues, stopCauseOf, toPowerState } from './virsh-parsers.js';
import { METADATA_NAMESPACE, parseMetadata, type VmMetadata } from './vm-metadata.js';

/** What a {@link KvmVm} shares with its hypervisor. */
export interface KvmVmContext {
  readonly virsh: Virsh;
  /**
   * Which cvmweb installation this is: recorded in each domain's metadata, and its
   * {@link installationTag} in the name of each volume made for one VM.
   */
  readonly installationId: string;
  readonly pool: StoragePool;
  readonly executionCap: boolean;
  readonly shutdownTimeoutMs: number;
  /** libvirt's event stream: wakes waits for a state up early (states are still read fresh). */
  readonly events?: DomainEvents | undefined;
  /** Receives notable facts no return value carries (e.g. a state libvirt reports that cvmweb does not know). */
  readonly onDebug?: ((message: string) => void) | undefined;
  /**
   * The URI reaches another machine: the API port is bound there, so this machine cannot tell
   * whether it is free before a start (a start that fails on it still moves it).
   */
  readonly remote?: boolean | undefined;
}

/** A call's signal and debug listener (a session's `debug` event), passed to every virsh command. */
type Call = { signal?: AbortSignal | undefined; onDebug?: ((message: string) => void) | undefined };

/** QEMU's refusal when the forward's host port is taken. */
const HOSTFWD_FAILED = /host forwarding rule|hostfwd/i;

/** The libvirt `vcpu_period` cvmweb uses (µs); the quota is period × cap / 100. */
export const CAP_PERIOD_US = 100_000;
/** The guest's address on QEMU's user network. */
export const GUEST_IP = '10.0.2.15';

/** One cvmweb domain. Commands use its name, which core keeps unique. */
export class KvmVm implements VmHandle {
  readonly id: string;
  readonly name: string;
  readonly #context: KvmVmContext;
  readonly #tag: string;
  #apiPort: number;

  constructor(context: KvmVmContext, id: string, name: string, apiPort: number) {
    this.#context = context;
    this.#tag = installationTag(context.installationId);
    this.id = id;
    this.name = name;
    this.#apiPort = apiPort;
  }

  async state(options: ActionOptions & Call = {}): Promise<VmPowerState> {
    const v = this.#context.virsh;
    const call = callOf(options);
    const raw = await v.run(['domstate', this.name, '--reason'], { ...call, cheap: true, code: 'QUERY' });
    const { state } = parseDomState(raw);
    if (state !== 'shut off') {
      const power = toPowerState(state, false);
      if (power === 'error')
        this.#context.onDebug?.(`${this.name}: libvirt reports state '${raw.trim()}', taken as 'error'`);
      return power;
    }
    const info = parseKeyValues(await v.run(['dominfo', this.name], { ...call, cheap: true, code: 'QUERY' }));
    return toPowerState(state, info['Managed save'] === 'yes');
  }

  /** Why the domain is off, from libvirt's shut-off reason (see {@link stopCauseOf}). */
  async stopCause(options: ActionOptions & Call = {}): Promise<StopCause | undefined> {
    const call = callOf(options);
    const raw = await this.#context.virsh.run(['domstate', this.name, '--reason'], {
      ...call,
      cheap: true,
      code: 'QUERY',
    });
    return stopCauseOf(parseDomState(raw));
  }

  async start(spec: StartSpec, options: ProgressOptions = {}): Promise<void> {
    const { virsh, pool } = this.#context;
    const call = callOf(options);
    const before = await this.state(call);
    if (before === 'running' || before === 'paused') {
      throw new HypervisorError('INVALID_STATE', `${this.name} is already ${before}`, {
        details: { state: before },
      });
    }
    if (before !== 'saved') {
      if (spec.context.path === '') {
        throw new HypervisorError('INVALID_USAGE', `${this.name}: no context medium to boot with`, {
          details: { field: 'context' },
        });
      }
      await pool.upload(ownVolumeName(this.name, this.#tag, 'context'), spec.context.path, 'raw', call);
      // The port was free when the domain was defined; another process (or a VM defined before a
      // restart) may hold it now. The domain is off, so its forward can still move.
      if (!this.#context.remote && this.#apiPort > 0 && !(await isLoopbackPortFree(this.#apiPort)))
        await this.#movePort(call);
    }
    try {
      await virsh.run(['start', this.name], { ...call, code: 'CONTROL', timeoutMs: 5 * 60_000 });
    } catch (error) {
      // Taken between the check and QEMU's bind (or on a remote host): move it once and retry.
      const stderr = isHypervisorError(error) ? String(error.details['stderr'] ?? '') : '';
      if (before === 'saved' || !HOSTFWD_FAILED.test(stderr)) throw error;
      await this.#movePort(call);
      await virsh.run(['start', this.name], { ...call, code: 'CONTROL', timeoutMs: 5 * 60_000 });
    }
    await this.#waitFor((state) => state === 'running', 30_000, call, 'to run');
  }

  async stop(options: ProgressOptions & { timeoutMs?: number } = {}): Promise<void> {
    const { virsh } = this.#context;
    const call = callOf(options);
    let state = await this.state(call);
    if (state === 'poweroff') return;
    if (state === 'saved') {
      await virsh.run(['managedsave-remove', this.name], { ...call, code: 'CONTROL' });
      return;
    }
    if (state === 'paused') {
      await virsh.run(['resume', this.name], { ...call, cheap: true, code: 'CONTROL' });
      state = 'running';
    }
    const timeoutMs = options.timeoutMs ?? this.#context.shutdownTimeoutMs;
    const graceful = await virsh
      .run(['shutdown', this.name, '--mode', 'acpi'], { ...call, cheap: true, code: 'CONTROL' })
      .then(
        () => this.#waitFor((s) => s === 'poweroff', timeoutMs, call, 'to power off').then(() => true),
        (error: unknown) => {
          if (isHypervisorError(error) && error.aborted) throw error;
          return false;
        },
      )
      .catch((error: unknown) => {
        if (isHypervisorError(error) && error.aborted) throw error;
        return false;
      });
    if (graceful) return;
    await this.#destroyDomain(call);
  }

  /**
   * Removes the domain (with its managed save), then its own volumes, then releases its port.
   * What is left to remove is on record at every step: the volumes in the domain's metadata while
   * it exists, and in their own marked names once it is undefined (see `removeOrphanVolumes`,
   * which `listVms()` runs), so a process killed anywhere here leaves nothing for good.
   */
  async destroy(options: ProgressOptions = {}): Promise<void> {
    // Removal must finish even when the caller gives up: a half-removed VM is worse.
    const { virsh, pool } = this.#context;
    const call: Call = { onDebug: options.onDebug };
    let metadata: VmMetadata | undefined;
    try {
      metadata = await this.#metadata(call);
      await this.#destroyDomain(call);
      await retry(() => virsh.run(['undefine', this.name, '--managed-save'], { ...call, code: 'DELETE' }));
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    // The metadata lists them (unmarked ones for a VM of an earlier release); without it, any name.
    const recorded = metadata?.volumes ?? legacyVolumeNames(this.name);
    const volumes = new Set([...recorded, ...ownVolumeNames(this.name, this.#tag)]);
    for (const volume of volumes) await retry(() => pool.remove(volume, call));
    releaseLoopbackPort(this.#apiPort);
  }

  async pause(options: ActionOptions & Call = {}): Promise<void> {
    await this.#context.virsh.run(['suspend', this.name], {
      ...callOf(options),
      cheap: true,
      code: 'CONTROL',
    });
  }

  async resume(options: ActionOptions & Call = {}): Promise<void> {
    await this.#context.virsh.run(['resume', this.name], {
      ...callOf(options),
      cheap: true,
      code: 'CONTROL',
    });
  }

  async hibernate(options: ProgressOptions = {}): Promise<void> {
    await this.#context.virsh.run(['managedsave', this.name, '--running'], {
      ...callOf(options),
      code: 'CONTROL',
      timeoutMs: 10 * 60_000,
    });
  }

  async reset(options: ActionOptions & Call = {}): Promise<void> {
    await this.#context.virsh.run(['reset', this.name], { ...callOf(options), cheap: true, code: 'CONTROL' });
  }

  async setExecutionCap(cap: number, options: ActionOptions & Call = {}): Promise<void> {
    if (!this.#context.executionCap) {
      throw new HypervisorError(
        'NOT_SUPPORTED',
        `CPU caps need cgroups, which ${this.#context.virsh.uri} lacks`,
      );
    }
    if (!Number.isInteger(cap) || cap < 1 || cap > 100) {
      throw new HypervisorError('INVALID_USAGE', `execution cap ${cap} is not 1–100`, {
        details: { field: 'cap' },
      });
    }
    const quota = Math.round((CAP_PERIOD_US * cap) / 100);
    const call = callOf(options);
    const live = await this.#isActive(call);
    await this.#context.virsh.run(
      [
        'schedinfo',
        this.name,
        ...(live ? ['--live', '--config'] : ['--config']),
        '--set',
        `vcpu_period=${CAP_PERIOD_US}`,
        '--set',
        `vcpu_quota=${quota}`,
      ],
      { ...call, cheap: true, code: 'MODIFY' },
    );
  }

  /** The running domain's VNC display (`virsh dumpxml --security-info`). */
  display(options: ActionOptions = {}): Promise<DisplayEndpoint | undefined> {
    return readDisplay(this.#context.virsh, this.name, options);
  }

  /** The running domain's screen (`virsh screenshot`) as a PNG. */
  screenshot(options: ActionOptions = {}): Promise<Uint8Array> {
    return takeScreenshot(this.#context.virsh, this.name, options);
  }

  apiEndpoint(): ApiEndpoint | undefined {
    return this.#apiPort > 0 ? { host: '127.0.0.1', port: this.#apiPort, guestIp: GUEST_IP } : undefined;
  }

  async #metadata(call: Call): Promise<VmMetadata> {
    const xml = await this.#context.virsh.run(
      ['metadata', this.name, '--uri', METADATA_NAMESPACE, '--config'],
      { ...call, cheap: true, code: 'QUERY' },
    );
    const metadata = parseMetadata(xml);
    if (!metadata) throw new HypervisorError('NOT_FOUND', `${this.name} is not a cvmweb domain`);
    return metadata;
  }

  /**
   * Gives the (shut off) domain a new free API port: its definition is rewritten with the new
   * forward and metadata. The old port stays reserved (another domain may forward it).
   */
  async #movePort(call: Call): Promise<void> {
    const { virsh } = this.#context;
    const old = this.#apiPort;
    const xml = await virsh.run(['dumpxml', this.name, '--inactive'], { ...call, code: 'QUERY' });
    const port = await reserveFreeLoopbackPort();
    let moved: string;
    try {
      moved = moveApiForward(xml, old, port);
    } catch (error) {
      releaseLoopbackPort(port);
      throw isHypervisorError(error)
        ? new HypervisorError(error.code, `${this.name}: ${error.message}`, {
            cause: error,
            details: error.details,
          })
        : error;
    }
    const dir = await mkdtemp(join(tmpdir(), 'cvmweb-kvm-'));
    try {
      const file = join(dir, 'domain.xml');
      await writeFile(file, moved, { mode: 0o600 });
      await virsh.run(['define', file], { ...call, code: 'CONTROL' });
    } catch (error) {
      releaseLoopbackPort(port);
      throw error;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    this.#apiPort = port;
    call.onDebug?.(`${this.name}: API port ${old} is taken, moved to ${port}`);
    this.#context.onDebug?.(`${this.name}: API port ${old} is taken, moved to ${port}`);
  }

  async #isActive(call: Call): Promise<boolean> {
    const state = await this.state(call);
    return state === 'running' || state === 'paused';
  }

  async #destroyDomain(call: Call): Promise<void> {
    try {
      await this.#context.virsh.run(['destroy', this.name], { ...call, code: 'CONTROL' });
    } catch (error) {
      // "domain is not running" is the goal reached.
      if (isVirshFailure(error, 'not-running')) return;
      throw error;
    }
  }

  async #waitFor(
    done: (state: VmPowerState) => boolean,
    timeoutMs: number,
    call: Call,
    what: string,
  ): Promise<void> {
    const signal = call.signal;
    const deadline = Date.now() + timeoutMs;
    let delay = 50;
    // An event of this domain ends the current pause at once; polling stays the fallback (an
    // event may come before the subscription, or the stream may be down).
    let woken = false;
    let wake: (() => void) | undefined;
    const unsubscribe = this.#context.events?.subscribe((event) => {
      if (event.domain !== this.name) return;
      woken = true;
      wake?.();
    });
    try {
      for (;;) {
        woken = false;
        const state = await this.state(call);
        if (done(state)) return;
        if (Date.now() >= deadline) {
          throw new HypervisorError(
            'CONTROL',
            `${this.name} did not come ${what} within ${timeoutMs} ms (${state})`,
            { details: { state } },
          );
        }
        if (!woken) {
          // A pause of `delay` that an event of the domain ends early, and the signal at once.
          await abortable(
            new Promise<void>((resolve) => {
              const finish = () => {
                clearTimeout(timer);
                wake = undefined;
                resolve();
              };
              const timer = setTimeout(finish, delay);
              wake = finish;
            }),
            signal,
            `waiting for ${this.name}`,
          );
        }
        delay = Math.min(delay * 2, 500);
      }
    } finally {
      unsubscribe?.();
    }
  }
}

/**
 * Runs `action` once more, 100 ms later, when it fails for another reason than "not found" (a
 * transient virsh error). `signal` ends the pause (removal steps pass none: they must finish).
 */
export async function retry<T>(action: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  try {
    return await action();
  } catch (error) {
    if (isNotFound(error) || (isHypervisorError(error) && error.aborted)) throw error;
    await sleep(100, { ...(signal ? { signal } : {}), what: 'retrying a virsh command' });
    return action();
  }
}

/** The signal and debug listener of a call's options (both optional). */
function callOf(options: ActionOptions & Call): Call {
  return { signal: options.signal, onDebug: options.onDebug };
}
