import { homedir } from 'node:os';
import * as path from 'node:path';
import { type Driver, HypervisorError } from '@cvmweb/core';
import { createProcessRunner, type ProcessRunner } from '@cvmweb/core/node';
import { dialectFor, listExtPacksCommand, versionCommand } from './commands.js';
import { findVBoxManage, type ProbeEnvironment, probeVirtualBox, systemProbeEnvironment } from './probe.js';
import { type LockRetry, VBoxManage } from './vboxmanage.js';
import { parseVersion, shortVersion } from './version-parser.js';
import { VirtualBoxHypervisor } from './virtualbox-hypervisor.js';
import { parseExtPacks, vrdeUnavailableReason } from './vrde-display.js';

/** Options of {@link virtualbox}. */
export interface VirtualBoxOptions {
  /** The `VBoxManage` program; searched like the probe does when absent. */
  vboxManagePath?: string;
  /**
   * Extra environment of every `VBoxManage` run, read at each run. `VBOX_USER_HOME` here (or in
   * the process environment) chooses VirtualBox's settings folder.
   */
  env?: Record<string, string | undefined>;
  /** The folder our VMs are created in. Default: `$VBOX_USER_HOME/cvmweb` when `env` sets it, else `~/VirtualBox VMs/cvmweb`. */
  baseFolder?: string;
  /** Time box of one `VBoxManage` run in ms (default 60 s). */
  timeoutMs?: number;
  /** Time a guest gets to shut down after the ACPI power button before a hard power-off, in ms (default 30 s). */
  stopTimeoutMs?: number;
  /** Poll interval while waiting for that shutdown, in ms (default 250). */
  stopPollMs?: number;
  /** Retries of a command on a machine locked by another session (default 4 retries from 100 ms, doubling). */
  lockRetry?: Partial<LockRetry>;
  /** Runs `VBoxManage` (tests inject one; default: core's process runner with `env` and `timeoutMs`). */
  runner?: Pick<ProcessRunner, 'run'>;
  /** Receives one line per `VBoxManage` run. */
  onDebug?: (message: string) => void;
  /** What the probe reads from the machine (tests replace it). */
  probeEnvironment?: ProbeEnvironment;
}

/**
 * The VirtualBox driver: drives Oracle VirtualBox 6.1 or later through `VBoxManage`, with every
 * capability (execution cap, pause, hibernate as `savestate`, reset, guest properties under
 * `/CVMWeb/`, the API port forwarded to a loopback port).
 *
 * @example
 * ```ts
 * const cvmweb = await createCvmweb({ drivers: [kvm(), virtualbox()] });
 * ```
 */
export function virtualbox(options: VirtualBoxOptions = {}): Driver {
  const env = options.env ?? {};
  const probeEnvironment = () => options.probeEnvironment ?? systemProbeEnvironment(env);
  return {
    name: 'virtualbox',
    capabilities: {
      executionCap: true,
      pause: true,
      hibernate: true,
      reset: true,
      guestProperties: true,
      apiPortForwarding: true,
      display: true,
      screenshot: true,
    },
    probe: (o) =>
      probeVirtualBox({
        program: options.vboxManagePath,
        environment: probeEnvironment(),
        signal: o?.signal,
      }),
    create: async (o) => {
      const program = options.vboxManagePath ?? (await findVBoxManage(probeEnvironment(), o?.signal));
      if (!program) {
        throw new HypervisorError('EXTERNAL', 'VBoxManage was not found; is VirtualBox installed?', {
          details: { driver: 'virtualbox' },
        });
      }
      const runner =
        options.runner ??
        createProcessRunner({ env, timeoutMs: options.timeoutMs, onDebug: options.onDebug });
      const vbox = new VBoxManage(runner, program, options.lockRetry);
      const result = await vbox.run(versionCommand(), { code: 'EXTERNAL', signal: o?.signal });
      const version = parseVersion(result.stdout);
      if (!version) {
        throw new HypervisorError('EXTERNAL', `${program} --version printed no version`, {
          details: { command: [program, ...versionCommand()], stdout: result.stdout },
        });
      }
      // The RDP server is the extension pack's: without it, `display` is off with the reason.
      const packs = await vbox.run(listExtPacksCommand(), { code: 'QUERY', signal: o?.signal }).then(
        (listed) => vrdeUnavailableReason(parseExtPacks(listed.stdout)),
        (error: unknown) =>
          `VBoxManage list extpacks failed: ${error instanceof Error ? error.message : String(error)}`,
      );
      const home = env['VBOX_USER_HOME'];
      return new VirtualBoxHypervisor({
        vbox,
        version: shortVersion(version),
        dialect: dialectFor(version.major),
        baseFolder:
          options.baseFolder ??
          (home ? path.join(home, 'cvmweb') : path.join(homedir(), 'VirtualBox VMs', 'cvmweb')),
        stopTimeoutMs: options.stopTimeoutMs ?? 30_000,
        stopPollMs: options.stopPollMs ?? 250,
        vrdeUnavailable: packs,
      });
    },
  };
}
