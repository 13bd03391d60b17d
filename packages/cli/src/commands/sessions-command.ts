import { defaultStateDir, openSessionRegistry, sessionStateName } from '@cvmweb/core';
import { formatTable } from '@cvmweb/core/node';
import type { CliIo } from '../cli-io.js';
import { ExitCode } from '../exit-codes.js';
import { damagedRecordsReport } from './damaged-records-report.js';

/**
 * `cvmweb sessions [--json] [--state-dir DIR]`: the session registry, read without taking its lock.
 * Damaged session records are reported on standard error, one line each (the table or JSON on
 * standard output lists only the sound ones), and the exit code is then 4
 * ({@link ExitCode.DAMAGED_RECORDS}). Nothing on disk changes; a FIFO or other special file in
 * the registry is reported, never opened.
 */
export async function sessionsCommand(
  io: CliIo,
  flags: { json: boolean; stateDir?: string },
): Promise<number> {
  const directory = flags.stateDir ?? defaultStateDir(io.env);
  const registry = await openSessionRegistry({ directory, readOnly: true });
  try {
    const records = registry.list().sort((a, b) => a.createdAt - b.createdAt);
    const damaged = registry.damaged();
    if (damaged.length > 0) io.err(damagedRecordsReport(damaged, directory));
    const exit = damaged.length > 0 ? ExitCode.DAMAGED_RECORDS : ExitCode.OK;
    if (flags.json) {
      // The owner hash and user data stay out of listings: they are nobody's business here.
      const shown = records.map(({ owner: _owner, userData: _userData, ...rest }) => ({
        ...rest,
        stateName: sessionStateName(rest.state),
      }));
      io.out(`${JSON.stringify(shown, null, 2)}\n`);
      return exit;
    }
    if (records.length === 0) {
      io.out(`No sessions in ${directory}\n`);
      return exit;
    }
    io.out(
      `${formatTable(
        ['name', 'scope', 'state', 'vm', 'driver', 'cpus', 'ram', 'cap', 'daemon'],
        records.map((r) => [
          r.name,
          r.scope,
          `${sessionStateName(r.state)}${r.hibernated ? ' (hibernated)' : ''}${r.pending ? ` (${r.pending.action}…)` : ''}`,
          r.vmName,
          r.driver ?? '-',
          String(r.requirements.cpus),
          `${r.requirements.ram} MiB`,
          `${r.executionCap}%`,
          r.daemon.controlled ? `${r.daemon.minCap}–${r.daemon.maxCap}% flags=${r.daemon.flags}` : 'off',
        ]),
      )}\n`,
    );
    return exit;
  } finally {
    await registry.close();
  }
}
