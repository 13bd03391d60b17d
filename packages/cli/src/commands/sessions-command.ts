import { defaultStateDir, formatTable, openSessionRegistry, sessionStateName } from '@cvmweb/core';
import type { CliIo } from '../cli-io.js';
import { ExitCode } from '../exit-codes.js';

/** `cvmweb sessions [--json] [--state-dir DIR]`: the session registry, read without taking its lock. */
export async function sessionsCommand(
  io: CliIo,
  flags: { json: boolean; stateDir?: string },
): Promise<number> {
  const directory = flags.stateDir ?? defaultStateDir(io.env);
  const registry = await openSessionRegistry({ directory, readOnly: true });
  try {
    const records = registry.list().sort((a, b) => a.createdAt - b.createdAt);
    if (flags.json) {
      // The owner hash and user data stay out of listings: they are nobody's business here.
      const shown = records.map(({ owner: _owner, userData: _userData, ...rest }) => ({
        ...rest,
        stateName: sessionStateName(rest.state),
      }));
      io.out(`${JSON.stringify(shown, null, 2)}\n`);
      return ExitCode.OK;
    }
    if (records.length === 0) {
      io.out(`No sessions in ${directory}\n`);
      return ExitCode.OK;
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
    return ExitCode.OK;
  } finally {
    await registry.close();
  }
}
