#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { processIo } from './cli-io.js';
import { run } from './run.js';

// A reader that went away (a closed terminal, a killed parent holding the pipe) must not turn a
// clean stop into a crash that leaves the registry lock behind.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE' && error.code !== 'EIO') throw error;
  });
}
const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};
process.exitCode = await run(process.argv.slice(2), processIo(), version);
