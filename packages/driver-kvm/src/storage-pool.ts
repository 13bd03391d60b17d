import { stat } from 'node:fs/promises';
import { HypervisorError } from '@cvmweb/core';
import { isNotFound, type Virsh } from './virsh.js';
import { parseKeyValues, parseVolumeList } from './virsh-parsers.js';

/** A call's signal and debug listener (a session's `debug` event), passed to every virsh command. */
type Signal = { signal?: AbortSignal | undefined; onDebug?: ((message: string) => void) | undefined };

/**
 * cvmweb's libvirt storage pool (a `dir` pool, created when missing). Media reach the hypervisor
 * host by volume upload, so the same code works for remote URIs.
 */
export class StoragePool {
  readonly #virsh: Virsh;
  readonly name: string;
  readonly #target: string;
  readonly #uploads = new Map<string, Promise<string>>();
  #ready: Promise<void> | undefined;

  constructor(virsh: Virsh, name: string, target: string) {
    this.#virsh = virsh;
    this.name = name;
    this.#target = target;
  }

  /** Defines, builds and starts the pool when needed (once per connection). */
  ensure(options: Signal = {}): Promise<void> {
    this.#ready ??= this.#ensure(options).catch((error: unknown) => {
      this.#ready = undefined;
      throw error;
    });
    return this.#ready;
  }

  async #ensure(options: Signal): Promise<void> {
    const v = this.#virsh;
    let info: Record<string, string>;
    try {
      info = parseKeyValues(
        await v.run(['pool-info', this.name], { ...options, cheap: true, code: 'QUERY' }),
      );
    } catch (error) {
      if (!isNotFound(error)) throw error;
      await v.run(['pool-define-as', this.name, 'dir', '--target', this.#target], {
        ...options,
        code: 'CREATE',
      });
      await v.run(['pool-build', this.name], { ...options, code: 'CREATE' });
      await v.run(['pool-autostart', this.name], { ...options, code: 'CREATE' }).catch(() => undefined);
      info = { State: 'inactive' };
    }
    if (info['State'] !== 'running') {
      await v.run(['pool-start', this.name], { ...options, code: 'CREATE' }).catch(async (error: unknown) => {
        // Another process may have started it meanwhile.
        const again = parseKeyValues(await v.run(['pool-info', this.name], { ...options, code: 'QUERY' }));
        if (again['State'] !== 'running') throw error;
      });
    }
  }

  /** The volume's size in bytes, or `undefined` when it does not exist. */
  async volumeBytes(volume: string, options: Signal = {}): Promise<number | undefined> {
    try {
      const info = parseKeyValues(
        await this.#virsh.run(['vol-info', '--pool', this.name, volume, '--bytes'], {
          ...options,
          cheap: true,
          code: 'QUERY',
        }),
      );
      return Number.parseInt(info['Capacity'] ?? '0', 10);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** The volume's path on the hypervisor host. */
  async path(volume: string, options: Signal = {}): Promise<string> {
    return (
      await this.#virsh.run(['vol-path', '--pool', this.name, volume], {
        ...options,
        cheap: true,
        code: 'QUERY',
      })
    ).trim();
  }

  /** Creates an empty volume of `bytes` (optionally backed by `backing`, a qcow2 base). */
  async create(
    volume: string,
    bytes: number,
    format: string,
    options: Signal & { backing?: { volume: string; format: string } } = {},
  ): Promise<void> {
    const args = ['vol-create-as', this.name, volume, String(bytes), '--format', format];
    if (options.backing)
      args.push('--backing-vol', options.backing.volume, '--backing-vol-format', options.backing.format);
    await this.#virsh.run(args, { signal: options.signal, onDebug: options.onDebug, code: 'CREATE' });
  }

  /** Creates `volume` holding the local `file` (replacing an existing volume of that name). */
  async upload(volume: string, file: string, format: string, options: Signal = {}): Promise<void> {
    const { size } = await stat(file);
    await this.remove(volume, options);
    await this.create(volume, size, format, options);
    try {
      await this.#virsh.run(['vol-upload', '--pool', this.name, volume, file], {
        signal: options.signal,
        onDebug: options.onDebug,
        code: 'IO',
        timeoutMs: 30 * 60_000,
      });
    } catch (error) {
      await this.remove(volume, { onDebug: options.onDebug }).catch(() => undefined);
      throw error;
    }
  }

  /**
   * A shared, read-only base volume holding `file` (a cached image), uploaded once and kept:
   * it is named by the file's checksum and never removed with a VM. An empty volume
   * `<volume>.complete` marks a finished upload: one cut short (a killed process, a lost
   * connection) has no marker and is uploaded again, never reused.
   */
  shared(volume: string, file: string, format: string, options: Signal = {}): Promise<string> {
    let upload = this.#uploads.get(volume);
    if (!upload) {
      upload = (async () => {
        const { size } = await stat(file);
        const marker = completionMarker(volume);
        const complete =
          (await this.volumeBytes(volume, options)) === size &&
          (await this.volumeBytes(marker, options)) !== undefined;
        if (!complete) {
          await this.remove(marker, options);
          await this.upload(volume, file, format, options);
          await this.create(marker, 0, 'raw', options);
        }
        return volume;
      })().finally(() => this.#uploads.delete(volume));
      this.#uploads.set(volume, upload);
    }
    return upload;
  }

  /** Deletes the volume; resolves when it does not exist. */
  async remove(volume: string, options: Signal = {}): Promise<void> {
    try {
      await this.#virsh.run(['vol-delete', '--pool', this.name, volume], {
        ...options,
        cheap: true,
        code: 'DELETE',
      });
    } catch (error) {
      if (isNotFound(error)) return;
      throw error;
    }
  }

  /**
   * The names of the pool's volumes (empty when the pool does not exist). `refresh` (default
   * true) rescans the pool's directory first, to see files made without libvirt; volumes made and
   * deleted through libvirt are listed without it.
   */
  async list(options: Signal & { refresh?: boolean } = {}): Promise<string[]> {
    const { refresh = true, ...call } = options;
    try {
      if (refresh)
        await this.#virsh.run(['pool-refresh', this.name], { ...call, cheap: true, code: 'QUERY' });
      return parseVolumeList(
        await this.#virsh.run(['vol-list', this.name], { ...call, cheap: true, code: 'QUERY' }),
      );
    } catch (error) {
      if (isNotFound(error)) return [];
      throw error;
    }
  }
}

/** The empty volume that marks the finished upload of shared base `volume`. */
export function completionMarker(volume: string): string {
  return `${volume}.complete`;
}

/** Refuses a size libvirt or qemu-img would misread. */
export function checkBytes(bytes: number, what: string): number {
  if (!Number.isSafeInteger(bytes) || bytes < 0) {
    throw new HypervisorError('INVALID_USAGE', `${what}: not a size in bytes: ${bytes}`, {
      details: { field: what },
    });
  }
  return bytes;
}
