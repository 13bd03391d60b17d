import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createCvmweb,
  defaultStateDir,
  HypervisorError,
  isHypervisorError,
  openSessionRegistry,
  sessionStateName,
} from '@cvmweb/core';
import { formatTable, isProcessAlive, writeFileAtomic } from '@cvmweb/core/node';
import {
  controlledSessions,
  DAEMON_PID_FILE,
  defaultIdleSources,
  formatReading,
  IdleDaemon,
  isKnown,
  pickIdleSource,
  readDaemonFile,
  type TimelineEvent,
  validateIdleTime,
} from '@cvmweb/daemon';
import type { CliIo } from '../cli-io.js';
import { ExitCode } from '../exit-codes.js';
import { listenForStop } from '../stop-request.js';
import { usageError } from '../usage-error.js';

/**
 * `cvmweb daemon [--idle-time S] [--state-dir DIR] [--json]`: runs the idle daemon standalone
 * against the session registry until SIGINT, SIGTERM, SIGHUP or the end of its parent process
 * (exit 0), with a pid file in the state directory.
 * `cvmweb daemon status [--json]`: the idle source, the current idle time (or why it is
 * unknown), and each controlled session with its policy and the daemon's last action.
 */
export async function daemonCommand(
  io: CliIo,
  args: readonly string[],
  flags: { json: boolean; stateDir?: string; idleTime?: number },
): Promise<number> {
  const [sub, ...extra] = args;
  if (extra.length > 0 || (sub !== undefined && sub !== 'status' && sub !== 'run')) {
    throw usageError(
      `unknown daemon arguments: ${args.join(' ')} (use "cvmweb daemon" or "cvmweb daemon status")`,
    );
  }
  let idleTime: number | undefined;
  if (flags.idleTime !== undefined) {
    try {
      idleTime = validateIdleTime(flags.idleTime);
    } catch (error) {
      throw usageError(`--idle-time: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  const stateDir = flags.stateDir ?? defaultStateDir(io.env);
  return sub === 'status' ? status(io, stateDir, flags.json) : runDaemon(io, stateDir, flags.json, idleTime);
}

/** The pid in `daemon.pid` and whether that process is alive. */
async function pidFile(stateDir: string): Promise<{ pid: number; alive: boolean } | undefined> {
  let text: string;
  try {
    text = await readFile(join(stateDir, DAEMON_PID_FILE), 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number.parseInt(text.trim(), 10);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return { pid, alive: isProcessAlive(pid) };
}

async function runDaemon(io: CliIo, stateDir: string, json: boolean, idleTime: number | undefined) {
  const existing = await pidFile(stateDir);
  if (existing?.alive && existing.pid !== process.pid) {
    throw new HypervisorError(
      'STILL_WORKING',
      `a daemon already runs (pid ${existing.pid}, ${join(stateDir, DAEMON_PID_FILE)})`,
      {
        details: { pid: existing.pid },
      },
    );
  }
  const cvmweb = await createCvmweb({ drivers: await io.drivers(), env: io.env, stateDir });
  const pidPath = join(stateDir, DAEMON_PID_FILE);
  let daemon: IdleDaemon | undefined;
  // Before the pid file and the start-up line: a SIGTERM sent on seeing them stops cleanly.
  const stop = listenForStop();
  try {
    await cvmweb.reconcile();
    const pick = await pickIdleSource(defaultIdleSources());
    daemon = new IdleDaemon({
      host: cvmweb,
      source: pick.source,
      stateDir,
      path: process.argv[1] ?? 'cvmweb',
      ...(idleTime !== undefined ? { idleTime } : {}),
    });
    const print = (event: TimelineEvent) =>
      io.out(
        json ? `${JSON.stringify(event)}\n` : `${new Date(event.at).toISOString()} ${describeEvent(event)}\n`,
      );
    daemon.on('timeline', print);
    daemon.on('warning', (message) => io.err(`cvmweb daemon: ${message}\n`));
    await writeFileAtomic(pidPath, `${process.pid}\n`);
    await daemon.start();
    if (!json) {
      io.out(
        `cvmweb daemon: pid ${process.pid}, idle source ${pick.source.name}${pick.found ? '' : ' (none usable: sessions are left alone)'}, idleTime ${daemon.idleTime} s, state dir ${stateDir}\n`,
      );
      if (!pick.found) io.out(`  ${formatReading(await pick.source.read())}\n`);
    }
    const reason = await stop.requested;
    if (!json) io.out(`cvmweb daemon: stopping (${reason}; sessions keep their current state)\n`);
    await daemon.stop();
    return ExitCode.OK;
  } finally {
    stop.dispose();
    await daemon?.stop().catch(() => undefined);
    await cvmweb.dispose();
    const mine = await pidFile(stateDir);
    if (mine?.pid === process.pid) await unlink(pidPath).catch(() => undefined);
  }
}

function describeEvent(event: TimelineEvent): string {
  switch (event.kind) {
    case 'system':
      return `system ${event.state}${event.reason ? `: ${event.reason}` : event.idleSeconds !== undefined ? ` (idle ${Math.floor(event.idleSeconds)} s)` : ''}`;
    case 'session':
      return `session ${event.name}: ${sessionStateName(event.state)}${event.hibernated ? ' (hibernated)' : ''}, cap ${event.executionCap}%`;
    case 'action':
      return `session ${event.name}: ${event.action}${event.cap !== undefined ? ` ${event.cap}%` : ''} ${event.ok ? 'done' : `failed: ${event.error ?? ''}`}`;
    case 'daemon':
      return event.running ? 'daemon started' : 'daemon stopped';
  }
}

async function status(io: CliIo, stateDir: string, json: boolean): Promise<number> {
  const [pid, file, pick] = await Promise.all([
    pidFile(stateDir),
    readDaemonFile(stateDir, (message) => io.err(`cvmweb: ${message}\n`)),
    pickIdleSource(defaultIdleSources()),
  ]);
  const reading = await pick.source.read();
  const idleTime = file?.idleTime ?? 30;
  const system = isKnown(reading) ? (reading.idleSeconds >= idleTime ? 'idle' : 'active') : 'unknown';
  let records: ReturnType<Awaited<ReturnType<typeof openSessionRegistry>>['list']> = [];
  try {
    const registry = await openSessionRegistry({ directory: stateDir, readOnly: true });
    records = registry.list();
    await registry.close();
  } catch (error) {
    if (!isHypervisorError(error)) throw error;
    io.err(`cvmweb: cannot read the session registry: ${error.message}\n`);
  }
  const sessions = controlledSessions(records, file?.holds ?? {}, file?.lastActions ?? {});
  const running = pid?.alive ? { running: true, pid: pid.pid } : { running: false };
  if (json) {
    io.out(
      `${JSON.stringify(
        {
          ...running,
          stateDir,
          idleTime,
          source: pick.source.name,
          candidates: pick.candidates,
          reading,
          system,
          sessions: sessions.map((s) => ({ ...s, stateName: sessionStateName(s.state) })),
        },
        null,
        2,
      )}\n`,
    );
    return ExitCode.OK;
  }
  const lines = [
    `Daemon:      ${running.running ? `running (pid ${pid?.pid})` : pid ? `not running (stale pid file, pid ${pid.pid})` : 'not running'}`,
    `Idle time:   ${idleTime} s before the system counts as idle`,
    `Idle source: ${pick.found ? pick.source.name : 'none usable'}`,
    ...pick.candidates.map(
      (c) =>
        `  ${c.selected ? '*' : ' '} ${c.name.padEnd(8)} ${c.probe.status}${c.probe.reason ? `: ${c.probe.reason}` : ''}`,
    ),
    `User idle:   ${formatReading(reading)}`,
    `System:      ${system}${system === 'unknown' ? ' (the daemon leaves sessions as they are)' : ''}`,
    '',
  ];
  io.out(lines.join('\n'));
  if (sessions.length === 0) {
    io.out(`No controlled sessions in ${stateDir}\n`);
    return ExitCode.OK;
  }
  io.out(
    `${formatTable(
      ['name', 'scope', 'state', 'cap', 'policy', 'last action'],
      sessions.map((s) => [
        s.name,
        s.scope,
        `${sessionStateName(s.state)}${s.hibernated ? ' (hibernated)' : ''}${s.hold ? ` (held ${s.hold} by the daemon)` : ''}`,
        `${s.executionCap}%`,
        s.policy,
        s.lastAction
          ? `${s.lastAction.action}${s.lastAction.cap !== undefined ? ` ${s.lastAction.cap}%` : ''} ${s.lastAction.ok ? 'ok' : `failed: ${s.lastAction.error ?? ''}`} at ${new Date(s.lastAction.at).toISOString()}`
          : '-',
      ]),
    )}\n`,
  );
  return ExitCode.OK;
}
