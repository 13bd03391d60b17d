import { join } from 'node:path';
import type { DamagedRecord } from '@cvmweb/core';
import { describeDamagedRecord } from '@cvmweb/core/node';

/**
 * The lines that report damaged session records on standard error (`cvmweb sessions`,
 * `cvmweb serve`): one `cvmweb: WARNING: …` line per record, then how to repair or remove them.
 * Empty when there are none.
 */
export function damagedRecordsReport(damaged: readonly DamagedRecord[], stateDir: string): string {
  if (damaged.length === 0) return '';
  const lines = damaged.map((entry) => `cvmweb: WARNING: ${describeDamagedRecord(entry)}\n`);
  return (
    lines.join('') +
    `cvmweb: ${damaged.length} damaged session record${damaged.length === 1 ? '' : 's'}: ` +
    `repair a file and move it back to ${join(stateDir, 'sessions')}/<id>.json, ` +
    'or delete it to free its name and let reconcile treat its VM as an orphan\n'
  );
}

/** A damaged record as `--json` output shows it: where, why, and what it keeps reserved. */
export function damagedRecordJson(entry: DamagedRecord): Record<string, unknown> {
  return {
    id: entry.id ?? null,
    file: entry.file,
    foundAt: entry.foundAt,
    reason: entry.reason,
    message: entry.message,
    scope: entry.salvaged.scope ?? null,
    name: entry.salvaged.name ?? null,
  };
}
