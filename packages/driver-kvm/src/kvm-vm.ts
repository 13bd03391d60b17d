import { setTimeout as sleep } from 'node:timers/promises';
import {
  type ActionOptions,
  type ApiEndpoint,
  HypervisorError,
  isHypervisorError,
  type ProgressOptions,
  type StartSpec,
  type VmHandle,
  type VmPowerState,
} from '@cvmweb/core';
import type { DomainEvents } from './domain-events.js';
import { releasePort } from './free-port.js';
import type { StoragePool } from './storage-pool.js';
import type { Virsh } from './virsh.js';
import { parseDomState, parseKeyValues, toPowerState } from './virsh-parsers.js';
import {
  buildMetadata,
  METADATA_KEY,
  METADATA_NAMESPACE,
  parseMetadata,
  type VmMetadata,
} from './vm-metadata.js';

/** What a {@link KvmVm} shares with its hypervisor. */
export interface KvmVmContext {
  readonly virsh: Virsh;
  readonly pool: StoragePool;
  readonly executionCap: boolean;
  readonly shutdownTimeoutMs: number;
  /** libvirt's event stream: wakes waits for a state up early (states are still read fresh). */
  readonly events?: DomainEvents | undefined;
  /** Receives notable facts no return value carries (e.g. a state libvirt reports that cvmweb does not know). */
  readonly onDebug?: ((message: string) => void) | undefined;
}

/** The libvirt `vcpu_period` cvmweb uses (µs); the quota is period × cap / 100. */
export const CAP_PERIOD_US = 100_000;
/** The guest's address on QEMU's user network. */
export const GUEST_IP = '10.0.2.15';

/** The volume that holds the context ISO of VM `name`. */
export function contextVolumeName(name: string): string {
  return `${name}-context.iso`;
}

/** One cvmweb domain. Commands use its name, which core keeps unique. */
export class KvmVm implements VmHandle {
  readonly id: string;
  readonly name: string;
  readonly #context: KvmVmContext;
  readonly #apiPort: number;

  constructor(context: KvmVmContext, id: string, name: string, apiPort: number) {
    this.#context = context;
    this.id = id;
    this.name = name;
    this.#apiPort = apiPort;
  }

  async state(options: ActionOptions = {}): Promise<VmPowerState> {
    const v = this.#context.virsh;
    const raw = await v.run(['domstate', this.name, '--reason'], {
      signal: options.signal,
      cheap: true,
      code: 'QUERY',
    });
    const { state } = parseDomState(raw);
    if (state !== 'shut off') {
      const power = toPowerState(state, false);
      if (power === 'error')
        this.#context.onDebug?.(`${this.name}: libvirt reports state '${raw.trim()}', taken as 'error'`);
      return power;
    }
    const info = parseKeyValues(
      await v.run(['dominfo', this.name], { signal: options.signal, cheap: true, code: 'QUERY' }),
    );
    return toPowerState(state, info['Managed save'] === 'yes');
  }

  async start(spec: StartSpec, options: ProgressOptions = {}): Promise<void> {
    const { virsh, pool } = this.#context;
    const signal = options.signal;
    const before = await this.state({ signal });
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
      await pool.upload(contextVolumeName(this.name), spec.context.path, 'raw', { signal });
    }
    await virsh.run(['start', this.name], { signal, code: 'CONTROL', timeoutMs: 5 * 60_000 });
    await this.#waitFor((state) => state === 'running', 30_000, signal, 'to run');
  }

  async stop(options: ProgressOptions & { timeoutMs?: number } = {}): Promise<void> {
    const { virsh } = this.#context;
    const signal = options.signal;
    let state = await this.state({ signal });
    if (state === 'poweroff') return;
    if (state === 'saved') {
      await virsh.run(['managedsave-remove', this.name], { signal, code: 'CONTROL' });
      return;
    }
    if (state === 'paused') {
      await virsh.run(['resume', this.name], { signal, cheap: true, code: 'CONTROL' });
      state = 'running';
    }
    const timeoutMs = options.timeoutMs ?? this.#context.shutdownTimeoutMs;
    const graceful = await virsh
      .run(['shutdown', this.name, '--mode', 'acpi'], { signal, cheap: true, code: 'CONTROL' })
      .then(
        () => this.#waitFor((s) => s === 'poweroff', timeoutMs, signal, 'to power off').then(() => true),
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
    await this.#destroyDomain(signal);
  }

  async destroy(_options: ProgressOptions = {}): Promise<void> {
    // Removal must finish even when the caller gives up: a half-removed VM is worse.
    const { virsh, pool } = this.#context;
    let metadata: VmMetadata | undefined;
    try {
      metadata = await this.#metadata();
      await this.#destroyDomain(undefined);
      await retry(() => virsh.run(['undefine', this.name, '--managed-save'], { code: 'DELETE' }));
    } catch (error) {
      if (!(isHypervisorError(error) && error.codeName === 'NOT_FOUND')) throw error;
    }
    const volumes = new Set([...(metadata?.volumes ?? []), ...ownVolumeNames(this.name)]);
    for (const volume of volumes) await retry(() => pool.remove(volume));
    releasePort(this.#apiPort);
  }

  async pause(options: ActionOptions = {}): Promise<void> {
    await this.#context.virsh.run(['suspend', this.name], {
      signal: options.signal,
      cheap: true,
      code: 'CONTROL',
    });
  }

  async resume(options: ActionOptions = {}): Promise<void> {
    await this.#context.virsh.run(['resume', this.name], {
      signal: options.signal,
      cheap: true,
      code: 'CONTROL',
    });
  }

  async hibernate(options: ProgressOptions = {}): Promise<void> {
    await this.#context.virsh.run(['managedsave', this.name, '--running'], {
      signal: options.signal,
      code: 'CONTROL',
      timeoutMs: 10 * 60_000,
    });
  }

  async reset(options: ActionOptions = {}): Promise<void> {
    await this.#context.virsh.run(['reset', this.name], {
      signal: options.signal,
      cheap: true,
      code: 'CONTROL',
    });
  }

  async setExecutionCap(cap: number, options: ActionOptions = {}): Promise<void> {
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
    const live = await this.#isActive(options.signal);
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
      { signal: options.signal, cheap: true, code: 'MODIFY' },
    );
  }

  async setProperty(key: string, value: string, options: ActionOptions = {}): Promise<void> {
    const metadata = await this.#metadata(options.signal);
    const properties = { ...metadata.properties, [key]: value };
    await this.#writeMetadata({ ...metadata, properties }, options.signal);
  }

  async getProperty(key: string, options: ActionOptions = {}): Promise<string | undefined> {
    const metadata = await this.#metadata(options.signal);
    return Object.hasOwn(metadata.properties, key) ? metadata.properties[key] : undefined;
  }

  apiEndpoint(): ApiEndpoint | undefined {
    return this.#apiPort > 0 ? { host: '127.0.0.1', port: this.#apiPort, guestIp: GUEST_IP } : undefined;
  }

  async #metadata(signal?: AbortSignal): Promise<VmMetadata> {
    const xml = await this.#context.virsh.run(
      ['metadata', this.name, '--uri', METADATA_NAMESPACE, '--config'],
      {
        signal,
        cheap: true,
        code: 'QUERY',
      },
    );
    const metadata = parseMetadata(xml);
    if (!metadata) throw new HypervisorError('NOT_FOUND', `${this.name} is not a cvmweb domain`);
    return metadata;
  }

  async #writeMetadata(metadata: VmMetadata, signal: AbortSignal | undefined): Promise<void> {
    const live = await this.#isActive(signal);
    await this.#context.virsh.run(
      [
        'metadata',
        this.name,
        '--uri',
        METADATA_NAMESPACE,
        '--key',
        METADATA_KEY,
        '--set',
        buildMetadata(metadata, 'set'),
        ...(live ? ['--live', '--config'] : ['--config']),
      ],
      { signal, cheap: true, code: 'MODIFY' },
    );
  }

  async #isActive(signal: AbortSignal | undefined): Promise<boolean> {
    const state = await this.state({ signal });
    return state === 'running' || state === 'paused';
  }

  async #destroyDomain(signal: AbortSignal | undefined): Promise<void> {
    try {
      await this.#context.virsh.run(['destroy', this.name], { signal, code: 'CONTROL' });
    } catch (error) {
      // "domain is not running" is the goal reached.
      if (isHypervisorError(error) && /not running/i.test(error.message)) return;
      throw error;
    }
  }

  async #waitFor(
    done: (state: VmPowerState) => boolean,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    what: string,
  ): Promise<void> {
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
        const state = await this.state({ signal });
        if (done(state)) return;
        if (Date.now() >= deadline) {
          throw new HypervisorError(
            'CONTROL',
            `${this.name} did not come ${what} within ${timeoutMs} ms (${state})`,
            { details: { state } },
          );
        }
        if (!woken) {
          await new Promise<void>((resolve) => {
            const finish = () => {
              clearTimeout(timer);
              signal?.removeEventListener('abort', finish);
              wake = undefined;
              resolve();
            };
            const timer = setTimeout(finish, delay);
            wake = finish;
            signal?.addEventListener('abort', finish, { once: true });
          });
        }
        if (signal?.aborted)
          throw new HypervisorError('CONTROL', `waiting for ${this.name} was aborted`, { aborted: true });
        delay = Math.min(delay * 2, 500);
      }
    } finally {
      unsubscribe?.();
    }
  }
}

/** The names of the volumes a VM called `name` may own (removed by `destroy` whatever the metadata says). */
export function ownVolumeNames(name: string): string[] {
  return [`${name}-scratch.qcow2`, `${name}-overlay.qcow2`, contextVolumeName(name)];
}

/** Runs `action` once more when it fails for another reason than "not found" (a transient virsh error). */
export async function retry<T>(action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    if (isHypervisorError(error) && (error.codeName === 'NOT_FOUND' || error.aborted)) throw error;
    await sleep(100);
    return action();
  }
}
