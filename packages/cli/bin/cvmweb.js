#!/usr/bin/env node
// The `cvmweb` command as npm links it. It runs the built command (dist/bin.js) in this process.
// This file is committed, not built, so that `npm ci` in a fresh clone of the repository links
// `cvmweb` before anything is built (npm skips a bin whose file does not exist yet); until the
// build has run it says so instead of failing with a missing module.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const built = new URL('../dist/bin.js', import.meta.url);
if (!existsSync(built)) {
  process.stderr.write(
    `cvmweb: ${fileURLToPath(built)} does not exist: @cvmweb/cli is not built. In a clone of the cvmweb repository, run \`npm run build\` at its root first.\n`,
  );
  process.exit(1);
}
await import(built.href);
