#!/usr/bin/env node
import { processIo } from './cli-io.js';
import { run } from './run.js';

/** This package's version, written in by the build (tsup.config.ts). */
declare const __CVMWEB_CLI_VERSION__: string;

// A reader that went away (a closed terminal, a killed parent holding the pipe) must not turn a
// clean stop into a crash that leaves the registry lock behind.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE' && error.code !== 'EIO') throw error;
  });
}
// No top-level await: the single-file build runs this module as CommonJS.
void run(process.argv.slice(2), processIo(), __CVMWEB_CLI_VERSION__).then((code) => {
  process.exitCode = code;
});
