import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { HypervisorError } from '@cvmweb/core';

/**
 * Receives one migration stream on the unix socket `socket` into `file` (QEMU's `migrate` with
 * `unix:<socket>` connects to it): no shell and no `exec:` URI, so any path works. Resolves once
 * listening; `done` settles when the stream is written and flushed.
 */
export async function receiveMigration(
  socket: string,
  file: string,
): Promise<{ done: Promise<void>; close(): void }> {
  await rm(socket, { force: true });
  const server = createServer();
  let settle: { resolve: () => void; reject: (error: unknown) => void } | undefined;
  const done = new Promise<void>((resolve, reject) => {
    settle = { resolve, reject };
  });
  done.catch(() => undefined);
  server.once('connection', (connection) => {
    server.close();
    pipeline(connection, createWriteStream(file, { mode: 0o600 })).then(settle?.resolve, settle?.reject);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, () => resolve());
  });
  return {
    done,
    close: () => {
      server.close();
      settle?.reject(new HypervisorError('CONTROL', 'the migration stream was not received'));
    },
  };
}

/** Sends `file` to the migration socket QEMU listens on (`migrate-incoming` with `unix:<socket>`). */
export async function sendMigration(socket: string, file: string): Promise<void> {
  const connection = createConnection({ path: socket });
  await new Promise<void>((resolve, reject) => {
    connection.once('connect', resolve);
    connection.once('error', reject);
  });
  await pipeline(createReadStream(file), connection);
}
