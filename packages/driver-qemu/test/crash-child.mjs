// A service process for qemu-crash.real-qemu.test.ts, killed with SIGKILL by the test while it
// opens and starts a session through the QEMU driver. Plain ESM over the built packages (run
// `npm run build` first), so it is a process like a user's.
// Argument: a JSON object { root, stateDir, imagesDir, entries, session, version, freezeAt }, where
// `entries` is the test guest's catalog.
// Prints `debug <line>` for each of the session's debug lines (every command line, the driver's
// steps, every QMP command), `session <id> <vm name>` once the session exists, `opened` and
// `started`; then waits to be killed. With `freezeAt` (a regular expression), the first debug line
// that matches blocks the process where it was emitted (the line is printed, then `frozen`), so
// the test kills it exactly at that step.
import { createCvmweb, ImageCache, ImageCatalog } from '@cvmweb/core';
import { qemu } from '../dist/index.js';

const config = JSON.parse(process.argv[2] ?? '{}');
const say = (line) => process.stdout.write(`${line.replaceAll('\n', ' ')}\n`);
const freezeAt = config.freezeAt ? new RegExp(config.freezeAt) : undefined;

const cvmweb = await createCvmweb({
  driver: qemu({ directory: config.root, shutdownTimeoutMs: 5000 }),
  stateDir: config.stateDir,
  images: new ImageCache({
    directory: config.imagesDir,
    offline: true,
    catalog: new ImageCatalog(config.entries, { defaults: [] }),
  }),
  secretCost: { N: 16, r: 1, p: 1 },
});
const session = await cvmweb.requestSession(config.session, 'key');
session.on('debug', (line) => {
  say(`debug ${line}`);
  if (freezeAt?.test(line)) {
    say('frozen'); // stdout is a pipe: written synchronously on Linux
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
  }
});
say(`session ${session.id} ${session.vmName}`);
await session.open({ ram: 128, disk: 16, version: config.version });
say('opened');
await session.start('crash');
say('started');
setInterval(() => undefined, 60_000);
