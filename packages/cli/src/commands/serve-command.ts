import { join } from 'node:path';
import {
  createCvmweb,
  DRIVER_ENV_VARIABLE,
  type Driver,
  defaultStateDir,
  HypervisorError,
} from '@cvmweb/core';
import { formatDetectionTable } from '@cvmweb/core/node';
import { DAEMON_FILE, IdleDaemon } from '@cvmweb/daemon';
import { BridgeService, DEFAULT_PORT, PolicyStore, terminalPrompter } from '@cvmweb/web-bridge';
import type { CliIo } from '../cli-io.js';
import { ExitCode } from '../exit-codes.js';
import { listenForStop } from '../stop-request.js';
import { damagedRecordJson, damagedRecordsReport } from './damaged-records-report.js';
import { printDebugStream } from './debug-stream-printer.js';
import { refuseSpecialFiles } from './refuse-special-files.js';

/** The web bridge's consent policy in the state directory. */
const POLICY_FILE = 'bridge-policy.json';

/** Flags of {@link serveCommand}. */
export interface ServeFlags {
  /** TCP port (default 5624). */
  port?: number;
  /** Use this driver (also `CVMWEB_DRIVER`). */
  driver?: string;
  /** State directory: session registry, VM files and `bridge-policy.json`. */
  stateDir?: string;
  /** `mock`: run on the simulated hypervisor when no real one is usable. */
  fallback?: string;
  /** Print one JSON line with the addresses instead of the text. */
  json?: boolean;
  /** Print the sessions' debug streams on standard error, their screenshots saved as files. */
  debug?: boolean;
}

const banner = [
  '',
  '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
  '!!  NO REAL HYPERVISOR IS USABLE: running on the SIMULATED (mock) driver.  !!',
  '!!  Pages can try every function, but no real virtual machine is made.     !!',
  '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
  '',
].join('\n');

/**
 * `cvmweb serve [--port N] [--driver NAME] [--state-dir DIR] [--fallback mock] [--json] [--debug]`:
 * reconciles the session registry, starts the loopback web bridge and runs until SIGINT, SIGTERM,
 * SIGHUP, the end of its parent process (`npx cvmweb serve` killed) or `options.signal`, then
 * stops the bridge and the daemon, releases the registry lock and returns 0. Stopping leaves
 * running VMs alone. Damaged session
 * records are reported at start-up: a `cvmweb: WARNING: …` line each on standard error, a count in
 * the `Sessions:` line, and `damaged` / `keptVms` in the `--json` line.
 */
export async function serveCommand(
  io: CliIo,
  flags: ServeFlags,
  options: { signal?: AbortSignal } = {},
): Promise<number> {
  if (flags.fallback !== undefined && flags.fallback !== 'mock') {
    throw new HypervisorError('INVALID_USAGE', `--fallback takes "mock", not "${flags.fallback}"`, {
      details: { cli: true, field: 'fallback' },
    });
  }
  const port = flags.port ?? DEFAULT_PORT;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new HypervisorError('INVALID_USAGE', `--port takes a port number, not ${String(flags.port)}`, {
      details: { cli: true, field: 'port' },
    });
  }
  const stateDir = flags.stateDir ?? defaultStateDir(io.env);
  // The registry and the image catalog never open special files; the daemon's and the bridge's files are checked here.
  await refuseSpecialFiles(stateDir, [DAEMON_FILE, POLICY_FILE]);
  const cvmweb = await createCvmweb({
    drivers: requestedDriver(await io.drivers(), flags.driver ?? io.env[DRIVER_ENV_VARIABLE]),
    ...(flags.fallback === 'mock' ? { fallback: (await import('@cvmweb/driver-mock')).mock() } : {}),
    ...(flags.driver ? { prefer: flags.driver } : {}),
    stateDir,
    env: io.env,
  });
  if (flags.debug) printDebugStream(cvmweb, io, stateDir);
  let service: BridgeService | undefined;
  let daemon: IdleDaemon | undefined;
  const stop = listenForStop(options.signal);
  try {
    if (!flags.json && cvmweb.detection) io.out(`${formatDetectionTable(cvmweb.detection)}\n`);
    if (cvmweb.fallback) io.err(banner);
    const report = await cvmweb.reconcile();
    const damaged = cvmweb.damaged();
    const keptVms = report.kept.map((vm) => vm.name);
    if (damaged.length > 0) io.err(damagedRecordsReport(damaged, stateDir));
    // The idle-aware daemon runs in the same process, on the same registry. It starts once the
    // bridge answers: finding its idle source runs a few commands (loginctl, xprintidle, …).
    daemon = new IdleDaemon({ host: cvmweb, stateDir });
    daemon.on('warning', (message) => io.err(`cvmweb daemon: ${message}\n`));
    cvmweb.attachDaemon(daemon);
    const policy = await PolicyStore.open({ file: join(stateDir, POLICY_FILE) });
    const interactive = io.isTTY && Boolean(process.stdin.isTTY) && !flags.json;
    service = new BridgeService({
      cvmweb,
      port,
      policy,
      // The test page draws the daemon's timeline.
      timeline: daemon,
      ...(interactive ? { prompter: terminalPrompter(process.stdin, io.out) } : {}),
      onConsentRequest: (request, url) =>
        io.out(`\n${request.origin} asks to run virtual machines: approve or deny at ${url}\n`),
      onConsentDecision: (origin, decision) => io.out(`Consent for ${origin}: ${decision}\n`),
    });
    await service.start();
    await daemon.start();
    const sessions = cvmweb.sessions().length;
    if (flags.json) {
      io.out(
        `${JSON.stringify({
          url: service.url,
          consentUrl: service.consentUrl,
          port: service.port,
          hypervisorName: cvmweb.hypervisorName,
          hypervisorVersion: cvmweb.hypervisorVersion,
          fallback: cvmweb.fallback,
          sessions,
          damaged: damaged.map(damagedRecordJson),
          keptVms,
          pid: process.pid,
        })}\n`,
      );
    } else {
      io.out(
        `\nHypervisor: ${cvmweb.hypervisorName} ${cvmweb.hypervisorVersion}${cvmweb.fallback ? ' (SIMULATED)' : ''}\n` +
          `Sessions: ${sessions} in ${stateDir} (reconciled: ${report.updated.length} updated, ` +
          `${report.vanished.length} vanished, ${report.rolledBack.length} rolled back, ${report.orphans.length} orphan VMs)\n` +
          (damaged.length > 0
            ? `Damaged session records: ${damaged.length}, their names reserved and ${keptVms.length} ` +
              `VM${keptVms.length === 1 ? '' : 's'} kept ` +
              '(see the warnings above; cvmweb sessions lists them)\n'
            : '') +
          `Policy: ${policy.file}\n\n` +
          `Test page: ${service.url}\nConsent page: ${service.consentUrl}\n` +
          `Local pages use: <script src="http://127.0.0.1:${service.port}/cvmweb.js"></script>\n` +
          'Public sites host the client themselves (@cvmweb/web-bridge/cvmweb.global.js) and connect from a click.\n\n' +
          'Press Ctrl+C to stop (running virtual machines keep running).\n',
      );
    }
    const reason = await stop.requested;
    if (!flags.json) io.out(`\nStopping the bridge (${reason}); virtual machines keep running.\n`);
    return ExitCode.OK;
  } finally {
    stop.dispose();
    await service?.stop();
    await daemon?.stop();
    await cvmweb.dispose();
  }
}

/**
 * Only the driver asked for by name (`--driver`, `CVMWEB_DRIVER`) when there is one: no other can
 * win, so the others are not probed (no `virsh` or `VBoxManage` runs for `--driver mock`). Every
 * driver otherwise, and for a name no driver has, so that detection says which names it knows.
 */
function requestedDriver(drivers: Driver[], name: string | undefined): Driver[] {
  const wanted = name?.trim().toLowerCase();
  const named = drivers.filter((driver) => driver.name === wanted);
  return named.length > 0 ? named : drivers;
}
