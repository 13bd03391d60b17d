import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Cvmweb, Session } from '@cvmweb/core';
import type { CliIo } from '../cli-io.js';

/** Where `serve --debug` saves the screenshots of the debug stream, under the state directory. */
export const DEBUG_SCREENSHOT_DIR = 'debug-screenshots';

/**
 * `serve --debug`: every session's `debug` stream goes to standard error, one line each, and a
 * screenshot a line carries (a failed start, a guest API that never answered) is saved as a PNG
 * in `<stateDir>/debug-screenshots/` (owner-only), its path added to the line.
 */
export function printDebugStream(cvmweb: Cvmweb, io: CliIo, stateDir: string): void {
  const directory = join(stateDir, DEBUG_SCREENSHOT_DIR);
  cvmweb.on('session', (session) => {
    session.on('debug', (message, screenshot) => {
      // The session's name comes from a page: quoted, so it cannot forge terminal output.
      const who = `cvmweb debug ${JSON.stringify(session.name)}`;
      if (screenshot === undefined) return io.err(`${who}: ${message}\n`);
      save(directory, session, screenshot).then(
        (file) => io.err(`${who}: ${message} (screenshot: ${file})\n`),
        (error: unknown) =>
          io.err(`${who}: ${message} (the screenshot could not be saved: ${String(error)})\n`),
      );
    });
  });
}

async function save(directory: string, session: Session, dataUrl: string): Promise<string> {
  await mkdir(directory, { recursive: true, mode: 0o700 });
  const id = session.id.replace(/[^\w-]/g, '_');
  const file = join(directory, `${id}-${new Date().toISOString().replaceAll(':', '-')}.png`);
  await writeFile(file, Buffer.from(dataUrl.slice(dataUrl.indexOf(',') + 1), 'base64'), { mode: 0o600 });
  return file;
}
