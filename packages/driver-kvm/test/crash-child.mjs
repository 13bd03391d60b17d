// A driver process for kvm.crash.libvirt.test.ts, killed with SIGKILL by the test while it opens (or, with
// `close: true`, starts and then closes) a session. Plain ESM over the built packages (run
// `npm run build` first), so it is a process like a user's.
// Argument: a JSON object { uri, pool, poolPath, stateDir, imagesDir, entries, session, version,
// disk, close, freezeAt }.
// Prints `debug <virsh command line>` before each command, `session <id> <vm name>` once the
// session exists, `opened` when open() resolves, and with `close`, `started` then `closed`; then
// waits to be killed. With `freezeAt` (a regular expression), the first command of the close whose
// line matches is not sent: the process prints `frozen` and blocks until it is killed, so the test
// kills it exactly between two commands.
import { createCvmweb, ImageCache, ImageCatalog } from '@cvmweb/core';
import { kvm } from '../dist/index.js';

const config = JSON.parse(process.argv[2] ?? '{}');
const say = (line) => process.stdout.write(`${line.replaceAll('\n', ' ')}\n`);
const freezeAt = config.freezeAt ? new RegExp(config.freezeAt) : undefined;
let closing = false;

const cvmweb = await createCvmweb({
  driver: kvm({
    uri: config.uri,
    pool: config.pool,
    poolPath: config.poolPath,
    shutdownTimeoutMs: 5000,
    onDebug: (line) => {
      say(`debug ${line}`);
      if (closing && freezeAt?.test(line)) {
        say('frozen'); // stdout is a pipe: written synchronously on Linux
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
      }
    },
  }),
  stateDir: config.stateDir,
  images: new ImageCache({
    directory: config.imagesDir,
    catalog: new ImageCatalog(config.entries, { defaults: [] }),
  }),
  secretCost: { N: 16, r: 1, p: 1 },
});
const session = await cvmweb.requestSession(config.session, 'key');
say(`session ${session.id} ${session.vmName}`);
await session.open({ ram: 128, disk: config.disk ?? 16, version: config.version });
say('opened');
if (config.close) {
  await session.start('crash');
  say('started');
  closing = true;
  await session.close();
  say('closed');
}
setInterval(() => undefined, 60_000);
