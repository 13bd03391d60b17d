import { rm } from 'node:fs/promises';
import * as path from 'node:path';
import {
  type ActionOptions,
  type ApiEndpoint,
  type DisplayEndpoint,
  HypervisorError,
  isHypervisorError,
  type ProgressOptions,
  type StartSpec,
  type VmHandle,
  type VmPowerState,
} from '@cvmweb/core';
import { releaseLoopbackPort, sleep } from '@cvmweb/core/node';
import {
  API_RULE,
  type ControlAction,
  controlVmCommand,
  discardStateCommand,
  executionCapCommand,
  getGuestPropertyCommand,
  liveExecutionCapCommand,
  STORAGE,
  screenshotCommand,
  setGuestPropertyCommand,
  startVmCommand,
  storageAttachCommand,
  unregisterOnlyCommand,
  unregisterVmCommand,
  type VBoxDialect,
  vrdePasswordCommand,
} from './commands.js';
import { parseGuestPropertyGet } from './guest-property-parser.js';
import { inaccessibleHint, isInside } from './inaccessible-vm.js';
import { INACCESSIBLE_NAME } from './list-vms-parser.js';
import { natRules } from './machinereadable-parser.js';
import { propertyName } from './property-name.js';
import { mapVmState } from './state-mapping.js';
import type { LockHolder, VBoxManage } from './vboxmanage.js';
import { newVrdePassword, vboxScreenshot, vrdeEndpoint, vrdePasswordHash } from './vrde-display.js';

/** What the VMs of one hypervisor connection share. */
export interface VmContext {
  readonly vbox: VBoxManage;
  /** The option spellings of the probed version. */
  readonly dialect: VBoxDialect;
  /** Our base folder: only VM folders inside it are ever removed. */
  readonly baseFolder: string;
  /** Default time for a graceful ACPI shutdown before the hard power-off, in ms. */
  readonly stopTimeoutMs: number;
  /** How often the state is read while waiting for the guest to shut down, in ms. */
  readonly stopPollMs: number;
  /** Throws when the connection was disposed. */
  live(): void;
  /** VirtualBox can serve displays (the extension pack's VRDE): each start sets a new password. */
  readonly vrde: boolean;
}

/** The guest's address on VirtualBox's default NAT network. */
const NAT_GUEST_IP = '10.0.2.15';

/** What `showvminfo --machinereadable` told about a VM. */
export interface VmFacts {
  readonly uuid: string;
  readonly name: string;
  readonly state: VmPowerState;
  readonly rawState: string;
  readonly apiPort?: number | undefined;
  readonly folder?: string | undefined;
  /** True when VirtualBox cannot read the VM's settings (`name="<inaccessible>"`). */
  readonly inaccessible?: boolean | undefined;
  /** The settings file of an inaccessible VM, from `list --long vms`. */
  readonly settingsFile?: string | undefined;
}

/** Reads the facts of a parsed `showvminfo --machinereadable`. */
export function vmFacts(info: ReadonlyMap<string, string>): VmFacts {
  if (info.get('name') === INACCESSIBLE_NAME) {
    const uuid = (info.get('UUID') ?? '').toLowerCase();
    return { uuid, name: INACCESSIBLE_NAME, state: 'error', rawState: 'inaccessible', inaccessible: true };
  }
  const mapped = mapVmState(info.get('VMState'));
  const rule = natRules(info).find((r) => r.name === API_RULE);
  const cfg = info.get('CfgFile');
  return {
    uuid: (info.get('UUID') ?? '').toLowerCase(),
    name: info.get('name') ?? '',
    state: mapped.state,
    rawState: mapped.raw,
    apiPort: rule && Number.isInteger(rule.hostPort) && rule.hostPort > 0 ? rule.hostPort : undefined,
    folder: cfg ? path.dirname(cfg) : undefined,
  };
}

/**
 * One VirtualBox VM of ours. It remembers the last state it saw so that most actions need one
 * `VBoxManage` run, and falls back on the other command when VirtualBox says the state changed.
 */
export class VirtualBoxVm implements VmHandle {
  readonly id: string;
  readonly name: string;
  readonly #ctx: VmContext;
  readonly #readInfo: (signal?: AbortSignal) => Promise<ReadonlyMap<string, string> | undefined>;
  #state: VmPowerState;
  #rawState: string;
  #apiPort: number | undefined;
  #folder: string | undefined;
  /** The settings file while VirtualBox cannot read it; `undefined` while the VM is accessible. */
  #inaccessible: string | undefined;

  constructor(
    ctx: VmContext,
    facts: VmFacts,
    readInfo: (signal?: AbortSignal) => Promise<ReadonlyMap<string, string> | undefined>,
  ) {
    this.#ctx = ctx;
    this.id = facts.uuid;
    this.name =
      facts.inaccessible && facts.settingsFile ? path.basename(facts.settingsFile, '.vbox') : facts.name;
    this.#state = facts.state;
    this.#rawState = facts.rawState;
    this.#inaccessible = facts.inaccessible ? (facts.settingsFile ?? '') : undefined;
    this.#apiPort = facts.apiPort;
    this.#folder = facts.folder;
    this.#readInfo = readInfo;
  }

  /** The state seen last, without asking VirtualBox. */
  get knownState(): VmPowerState {
    return this.#state;
  }

  /** The `VMState` value seen last, as VirtualBox printed it (`inaccessible` for an unreadable VM). */
  get rawState(): string {
    return this.#rawState;
  }

  async state(options?: ActionOptions): Promise<VmPowerState> {
    this.#ctx.live();
    await this.#reread(options?.signal, true);
    return this.#state;
  }

  async start(spec: StartSpec, options: ProgressOptions = {}): Promise<void> {
    await this.#act(options, async (run) => {
      let restoring = this.#state === 'saved';
      if (!restoring && spec.context.path) {
        try {
          // A powered-off VM takes a medium change; a saved one refuses it and is restored as it is.
          await run(storageAttachCommand(this.id, STORAGE.contextPort, 'dvd', spec.context.path), 'CONTROL');
        } catch (error) {
          if (!isHypervisorError(error) || error.codeName !== 'INVALID_STATE') throw error;
          restoring = true;
        }
      }
      options.onProgress?.(0, 1, restoring ? 'Restoring the VirtualBox VM' : 'Starting the VirtualBox VM');
      if (this.#ctx.vrde && this.#folder) {
        const hash = vrdePasswordHash(await newVrdePassword(this.#folder));
        await run(vrdePasswordCommand(this.id, hash), 'CONTROL');
      }
      await run(startVmCommand(this.id), 'CONTROL');
      this.#set('running');
      options.onProgress?.(1, 1, 'VirtualBox VM running');
    });
  }

  /** The running VM's RDP server (`showvminfo` `vrde`, `vrdeport`), with this start's password. */
  async display(options: ActionOptions = {}): Promise<DisplayEndpoint | undefined> {
    this.#ctx.live();
    const info = await this.#readInfo(options.signal);
    return info ? vrdeEndpoint(info, this.#folder) : undefined;
  }

  /** The running VM's screen (`controlvm … screenshotpng`). */
  screenshot(options: ActionOptions = {}): Promise<Uint8Array> {
    return this.#act(options, (run) =>
      vboxScreenshot((file) => run(screenshotCommand(this.id, file), 'QUERY')),
    );
  }

  async stop(options: ProgressOptions & { timeoutMs?: number } = {}): Promise<void> {
    await this.#act(options, async (run) => {
      const timeoutMs = options.timeoutMs ?? this.#ctx.stopTimeoutMs;
      if (this.#state !== 'paused' && timeoutMs > 0) {
        const pressed = await run(controlVmCommand(this.id, 'acpipowerbutton'), 'CONTROL').then(
          () => true,
          (error: unknown) => {
            if (isHypervisorError(error) && error.codeName === 'INVALID_STATE') return false;
            throw error;
          },
        );
        if (pressed && (await this.#waitForPowerOff(timeoutMs, options.signal))) return;
      }
      await this.#powerOff(run);
    });
  }

  async destroy(options: ProgressOptions = {}): Promise<void> {
    this.#ctx.live();
    const run = this.#runner(options);
    const info = await this.#readInfo(options.signal);
    if (info) {
      const facts = vmFacts(info);
      this.#adopt(facts);
      options.onProgress?.(0, 3, 'Powering the VirtualBox VM off');
      if (facts.inaccessible) {
        // Nothing of it can be read, so nothing can be deleted through VirtualBox: unregister only.
        options.onProgress?.(1, 3, 'Unregistering the inaccessible VirtualBox VM');
        await run(unregisterOnlyCommand(this.id), 'DELETE').catch(ignoreNotFound);
      } else {
        if (facts.state === 'running' || facts.state === 'paused' || facts.state === 'error') {
          await this.#powerOff(run);
        } else if (facts.state === 'saved') {
          await run(discardStateCommand(this.id), 'DELETE');
        }
        options.onProgress?.(1, 3, 'Unregistering the VirtualBox VM and deleting its disks');
        await run(unregisterVmCommand(this.id), 'DELETE').catch(ignoreNotFound);
      }
    }
    this.#set('poweroff');
    options.onProgress?.(2, 3, 'Removing the VM folder');
    const folder = this.#folder;
    if (folder && isInside(this.#ctx.baseFolder, folder)) await rm(folder, { recursive: true, force: true });
    if (this.#apiPort !== undefined) releaseLoopbackPort(this.#apiPort);
    options.onProgress?.(3, 3, 'VirtualBox VM removed');
  }

  async pause(options?: ActionOptions): Promise<void> {
    await this.#control('pause', 'paused', options);
  }

  async resume(options?: ActionOptions): Promise<void> {
    await this.#control('resume', 'running', options);
  }

  async reset(options?: ActionOptions): Promise<void> {
    await this.#control('reset', 'running', options);
  }

  async hibernate(options?: ProgressOptions): Promise<void> {
    await this.#control('savestate', 'saved', options);
  }

  async setExecutionCap(cap: number, options: ActionOptions = {}): Promise<void> {
    const { dialect } = this.#ctx;
    await this.#act(options, async (run) => {
      const live = this.#state === 'running' || this.#state === 'paused';
      const first = live ? liveExecutionCapCommand(this.id, cap) : executionCapCommand(this.id, cap, dialect);
      const second = live
        ? executionCapCommand(this.id, cap, dialect)
        : liveExecutionCapCommand(this.id, cap);
      try {
        await run(first, 'MODIFY');
      } catch (error) {
        // The VM changed state behind our back: the other command fits the state it is in now.
        // A lock another program holds is no such change.
        if (
          !isHypervisorError(error) ||
          error.details['problem'] === 'locked-by-other-process' ||
          !(error.codeName === 'INVALID_STATE' || error.details['locked'])
        ) {
          throw error;
        }
        await run(second, 'MODIFY');
      }
    });
  }

  async setProperty(key: string, value: string, options: ActionOptions = {}): Promise<void> {
    const name = propertyName(key);
    await this.#act(options, (run) => run(setGuestPropertyCommand(this.id, name, value), 'MODIFY'));
  }

  async getProperty(key: string, options: ActionOptions = {}): Promise<string | undefined> {
    const name = propertyName(key);
    return this.#act(options, async (run) =>
      parseGuestPropertyGet((await run(getGuestPropertyCommand(this.id, name), 'QUERY')).stdout),
    );
  }

  apiEndpoint(): ApiEndpoint | undefined {
    if (this.#state !== 'running' || this.#apiPort === undefined) return undefined;
    return { host: '127.0.0.1', port: this.#apiPort, guestIp: NAT_GUEST_IP };
  }

  #set(state: VmPowerState): void {
    this.#state = state;
    this.#rawState = state;
  }

  #adopt(facts: VmFacts): void {
    this.#state = facts.state;
    this.#rawState = facts.rawState;
    if (facts.inaccessible) {
      this.#inaccessible ??= facts.settingsFile ?? '';
      return;
    }
    this.#inaccessible = undefined;
    if (facts.apiPort !== undefined) this.#apiPort = facts.apiPort;
    if (facts.folder) this.#folder = facts.folder;
  }

  /** Reads the VM's facts again; `gone` makes a vanished VM a `NOT_FOUND` rejection. */
  async #reread(signal: AbortSignal | undefined, gone: boolean): Promise<void> {
    const info = await this.#readInfo(signal);
    if (info) this.#adopt(vmFacts(info));
    else if (gone) {
      throw new HypervisorError('NOT_FOUND', `the VirtualBox VM ${this.name} no longer exists`, {
        details: { vm: this.id },
      });
    }
  }

  #runner(options: ActionOptions & { onDebug?: (message: string) => void }): Run {
    const lockHolder = (signal?: AbortSignal) => this.#lockHolder(signal);
    return (argv, code) =>
      this.#ctx.vbox.run(argv, { code, signal: options.signal, onDebug: options.onDebug, lockHolder });
  }

  async #lockHolder(signal?: AbortSignal): Promise<LockHolder | undefined> {
    const info = await this.#readInfo(signal);
    if (!info) return undefined;
    const facts = vmFacts(info);
    this.#adopt(facts);
    const running = facts.state === 'running' || facts.state === 'paused';
    return { vmState: facts.rawState, sessionName: info.get('SessionName') || undefined, running };
  }

  /**
   * Runs an action. An inaccessible VM is read again first and refused with the reason and a fix
   * while it stays so. When the action fails, the VM's real state is read again before the failure
   * is reported, so the handle (and the session) says what the VM does; the rejection carries
   * `details.vmState`, VirtualBox's own `VMState` value.
   */
  async #act<T>(
    options: ActionOptions & { onDebug?: (message: string) => void },
    action: (run: Run) => Promise<T>,
  ): Promise<T> {
    this.#ctx.live();
    if (this.#inaccessible !== undefined) await this.#reread(options.signal, true);
    if (this.#inaccessible !== undefined) {
      const hint = inaccessibleHint(this.#inaccessible);
      throw new HypervisorError('INVALID_STATE', hint.reason, {
        details: { vm: this.id, vmState: 'inaccessible', settingsFile: this.#inaccessible, ...hint },
      });
    }
    try {
      return await action(this.#runner(options));
    } catch (error) {
      if (!isHypervisorError(error) || error.aborted) throw error;
      await this.#reread(undefined, false).catch(() => undefined);
      throw new HypervisorError(error.code, error.message, {
        cause: error,
        details: { ...error.details, vmState: this.#rawState },
      });
    }
  }

  async #control(action: ControlAction, after: VmPowerState, options: ActionOptions = {}): Promise<void> {
    await this.#act(options, async (run) => {
      await run(controlVmCommand(this.id, action), 'CONTROL');
      this.#set(after);
    });
  }

  async #powerOff(run: Run): Promise<void> {
    await run(controlVmCommand(this.id, 'poweroff'), 'CONTROL').catch((error: unknown) => {
      // Already off (the guest shut down between our look and the command): that is what we wanted.
      if (!isHypervisorError(error) || error.codeName !== 'INVALID_STATE') throw error;
    });
    this.#set('poweroff');
  }

  async #waitForPowerOff(timeoutMs: number, signal: AbortSignal | undefined): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const info = await this.#readInfo(signal);
      if (!info) return true;
      const facts = vmFacts(info);
      this.#adopt(facts);
      if (facts.state === 'poweroff') return true;
      if (Date.now() >= deadline) return false;
      await sleep(Math.min(this.#ctx.stopPollMs, Math.max(0, deadline - Date.now())), {
        signal,
        what: 'waiting for the guest to shut down',
      });
    }
  }
}

type Run = (argv: string[], code: 'CONTROL' | 'MODIFY' | 'QUERY' | 'DELETE') => ReturnType<VBoxManage['run']>;

function ignoreNotFound(error: unknown): void {
  if (!isHypervisorError(error) || error.codeName !== 'NOT_FOUND') throw error;
}
