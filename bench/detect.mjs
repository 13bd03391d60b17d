// Benchmark of the hypervisor detector of @cvmweb/core (run `npm run bench:detect`).
//
// Probes synthetic drivers with set delays plus every built driver package, and measures:
//   parallel   — wall time of detect() over all drivers, refresh: true
//   slowest    — the slowest driver's probe() awaited alone
//   sequential — every probe() awaited one after another
//   cached     — a second detect() served from the cache
// Each figure is the median of several runs. Goals: ratio = parallel / slowest ≤ 1.2, cached < 1 ms.
// The last line is machine-readable:
//   RESULT detect ratio=<x.xx> sequential_ratio=<x.xx> cached_ms=<x.xxx>

import { readdir } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { detect } from '../packages/core/dist/index.js';
import { formatDetectionTable } from '../packages/core/dist/node.js';

const RUNS = 7;
const CACHED_RUNS = 101;
const SYNTHETIC = [
  { delayMs: 50, score: 100 },
  { delayMs: 120, score: 60 },
  { delayMs: 200, score: 30 },
  { delayMs: 300, score: 0 },
];
const packagesDir = fileURLToPath(new URL('../packages/', import.meta.url));

/** A driver whose probe resolves after `delayMs`. */
function synthetic({ delayMs, score }) {
  return {
    name: `synthetic-${delayMs}ms`,
    capabilities: {
      executionCap: false,
      pause: false,
      hibernate: false,
      reset: false,
      guestProperties: false,
      apiPortForwarding: false,
    },
    probe: () =>
      new Promise((resolve) =>
        setTimeout(
          () => resolve({ installed: true, healthy: true, score, version: `${delayMs}ms` }),
          delayMs,
        ),
      ),
    create: () => Promise.reject(new Error('synthetic driver')),
  };
}

function isDriver(value) {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof value.name === 'string' &&
    typeof value.probe === 'function'
  );
}

/** Imports packages/<folder>/dist/index.js and calls its factory (`kvm`, `virtualbox`, `hyperV`, …). */
async function loadDriver(folder) {
  const suffix = folder.slice('driver-'.length);
  const camel = suffix.replace(/-([a-z0-9])/g, (_, c) => c.toUpperCase());
  const module = await import(pathToFileURL(`${packagesDir}${folder}/dist/index.js`).href);
  const factory = [module[suffix], module[camel], module.default].find((f) => typeof f === 'function');
  if (!factory) throw new Error(`no factory named ${camel}`);
  const driver = await factory();
  if (!isDriver(driver)) throw new Error(`${camel}() did not return a driver`);
  return driver;
}

async function realDrivers() {
  const drivers = [];
  const notes = [];
  const folders = new Set(['driver-mock']);
  try {
    for (const entry of await readdir(packagesDir, { withFileTypes: true })) {
      if (entry.isDirectory() && entry.name.startsWith('driver-')) folders.add(entry.name);
    }
  } catch (error) {
    notes.push(`cannot list packages: ${error.message}`);
  }
  for (const folder of folders) {
    try {
      if (folder === 'driver-mock') {
        const { mock } = await import('../packages/driver-mock/dist/index.js');
        const driver = await mock();
        if (!isDriver(driver)) throw new Error('mock() did not return a driver');
        drivers.push(driver);
      } else {
        drivers.push(await loadDriver(folder));
      }
    } catch (error) {
      notes.push(
        `${folder}: skipped (${error.code === 'ERR_MODULE_NOT_FOUND' ? 'not built' : error.message})`,
      );
    }
  }
  return { drivers, notes };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function timed(fn, runs) {
  const samples = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await fn();
    samples.push(performance.now() - started);
  }
  return median(samples);
}

const { drivers: real, notes } = await realDrivers();
const drivers = [...SYNTHETIC.map(synthetic), ...real];
const options = { env: {}, refresh: true };

await detect(drivers, options); // warm-up: module JIT, first spawn of real probes

const solo = [];
for (const driver of drivers) {
  solo.push({ name: driver.name, ms: await timed(() => driver.probe(), RUNS) });
}
const slowest = solo.reduce((a, b) => (b.ms > a.ms ? b : a));
const parallelMs = await timed(() => detect(drivers, options), RUNS);
const sequentialMs = await timed(async () => {
  for (const driver of drivers) await driver.probe();
}, RUNS);

const cacheOptions = { env: {}, cacheTtlMs: 600_000 };
const detection = await detect(drivers, cacheOptions);
const cachedMs = await timed(() => detect(drivers, cacheOptions), CACHED_RUNS);

const ratio = parallelMs / slowest.ms;
const sequentialRatio = sequentialMs / parallelMs;

console.log(formatDetectionTable(detection));
console.log('');
for (const note of notes) console.log(`note: ${note}`);
const rows = [
  ['measure', 'ms', 'note'],
  ...solo.map((s) => [`probe alone: ${s.name}`, s.ms.toFixed(1), s === slowest ? 'slowest' : '']),
  ['detect() parallel, refresh', parallelMs.toFixed(1), `ratio ${ratio.toFixed(2)} to slowest (goal ≤ 1.2)`],
  ['probes one after another', sequentialMs.toFixed(1), `${sequentialRatio.toFixed(2)}× parallel`],
  ['detect() cached', cachedMs.toFixed(3), `median of ${CACHED_RUNS} (goal < 1 ms)`],
];
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const row of rows)
  console.log(
    row
      .map((v, i) => (i === 1 ? v.padStart(widths[i]) : v.padEnd(widths[i])))
      .join('  ')
      .trimEnd(),
  );
console.log(
  `RESULT detect ratio=${ratio.toFixed(2)} sequential_ratio=${sequentialRatio.toFixed(2)} cached_ms=${cachedMs.toFixed(3)}`,
);
