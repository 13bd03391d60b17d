// npm run build:sea — the single-file `cvmweb` for this machine (Node.js single executable
// applications): build/sea/cvmweb (cvmweb.exe on Windows). Run it on each platform to build
// that platform's file (see packages/cli/README.md, "Single-file executable").
//
// 1. esbuild bundles the command (src/bin.ts), every @cvmweb package (their built dist) and every
//    dependency into one CommonJS script (Node 20 runs a single CommonJS script as the application), with
//    the browser client and the test page's script embedded as strings (Node 20 has no SEA
//    assets): build/sea/cvmweb.cjs.
// 2. `node --experimental-sea-config` turns it into a blob (with V8's code cache).
// 3. A copy of the running `node` gets the blob injected with postject (macOS: the signature is
//    removed first and an ad-hoc one made after; sign it properly for distribution).
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { inject } from 'postject';

const cliRoot = fileURLToPath(new URL('..', import.meta.url));
const bridgeRoot = join(cliRoot, '..', 'web-bridge');
const outDir = join(cliRoot, 'build', 'sea');
const windows = process.platform === 'win32';
const macos = process.platform === 'darwin';
const executable = join(outDir, windows ? 'cvmweb.exe' : 'cvmweb');
const script = join(outDir, 'cvmweb.cjs');
const blob = join(outDir, 'cvmweb.blob');
const configFile = join(outDir, 'sea-config.json');
/** The fuse postject flips so that Node runs the injected blob (the same in every Node version). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

const version = async (root) => JSON.parse(await readFile(join(root, 'package.json'), 'utf8')).version;
const bridgeFile = async (file) => readFile(join(bridgeRoot, 'dist', file), 'utf8');

await rm(outDir, { recursive: true, force: true });
await mkdir(outDir, { recursive: true });

const assets = {
  'cvmweb.global.js': await bridgeFile('cvmweb.global.js'),
  'test-page.global.js': await bridgeFile('test-page.global.js'),
  'console.js': await bridgeFile('console.js'),
  version: await version(bridgeRoot),
};
await build({
  entryPoints: [join(cliRoot, 'src', 'bin.ts')],
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  minify: true,
  legalComments: 'eof',
  outfile: script,
  define: {
    // ws uses these native add-ons when it can require them; the executable cannot, and ws works without.
    'process.env.WS_NO_BUFFER_UTIL': '"1"',
    'process.env.WS_NO_UTF_8_VALIDATE': '"1"',
    __CVMWEB_EMBEDDED_BRIDGE_ASSETS__: JSON.stringify(assets),
    __CVMWEB_CLI_VERSION__: JSON.stringify(await version(cliRoot)),
    // The script runs as CommonJS: `import.meta.url` is the executable's own URL.
    'import.meta.url': '__cvmwebScriptUrl',
  },
  banner: { js: 'var __cvmwebScriptUrl=require("node:url").pathToFileURL(process.execPath).href;' },
  logLevel: 'warning',
});

await writeFile(
  configFile,
  JSON.stringify({ main: script, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true }),
);
execFileSync(process.execPath, ['--experimental-sea-config', configFile], { stdio: 'inherit' });

await copyFile(process.execPath, executable);
if (macos) execFileSync('codesign', ['--remove-signature', executable], { stdio: 'inherit' });
await inject(executable, 'NODE_SEA_BLOB', await readFile(blob), {
  sentinelFuse: SEA_FUSE,
  ...(macos ? { machoSegmentName: 'NODE_SEA' } : {}),
});
if (macos) execFileSync('codesign', ['--sign', '-', executable], { stdio: 'inherit' });

const size = (await stat(executable)).size;
const scriptSize = (await stat(script)).size;
console.log(
  `${executable}: ${(size / 2 ** 20).toFixed(1)} MiB (Node ${process.version}, ` +
    `script ${(scriptSize / 2 ** 10).toFixed(0)} KiB) for ${process.platform}-${process.arch}`,
);
