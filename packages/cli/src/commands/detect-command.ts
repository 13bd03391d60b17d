import { detect } from '@cvmweb/core';
import { formatDetectionTable } from '@cvmweb/core/node';
import type { CliIo } from '../cli-io.js';
import { ExitCode } from '../exit-codes.js';

/** `cvmweb detect [--json] [--driver NAME]`: the candidate table, and the winner. */
export async function detectCommand(io: CliIo, flags: { json: boolean; driver?: string }): Promise<number> {
  const detection = await detect(await io.drivers(), {
    env: io.env,
    ...(flags.driver ? { prefer: flags.driver } : {}),
  });
  if (flags.json) {
    const candidates = detection.candidates.map(({ driver: _driver, ...candidate }) => candidate);
    io.out(
      `${JSON.stringify({ winner: detection.winner?.name ?? null, override: detection.override, candidates }, null, 2)}\n`,
    );
  } else {
    io.out(`${formatDetectionTable(detection)}\n`);
    io.out(
      detection.winner
        ? `\nSelected: ${detection.winner.name} ${detection.winner.probe.version ?? ''}\n`
        : '\nNo usable hypervisor. Install one of the above (see the fix column), or run with --driver mock to try cvmweb on the simulated hypervisor.\n',
    );
  }
  return detection.winner ? ExitCode.OK : ExitCode.NO_HYPERVISOR;
}
