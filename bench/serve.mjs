// npm run bench:serve — how quickly `cvmweb serve` answers, and how much memory it keeps.
//
// Starts `cvmweb serve --driver mock` RUNS times (default 10), each on a fresh state directory and a
// free port of 127.0.0.1, and measures:
//   ready_ms — from spawning the process to the first answered GET /info (polled every 5 ms);
//   rss_mib  — the service's resident memory (VmRSS of /proc/<pid>/status) once it has settled:
//              sampled every 250 ms after /info answered, until two samples differ by less than
//              0.25 MiB (at most 5 s). Each run also prints its two parts: anon (the process's own
//              memory: heaps, code) and file (pages of the node executable and libraries it touched,
//              shared with other node processes; for the single-file build, pages of that file).
// Each run also prints the CPU time the service used until it answered (utime + stime): on a busy
// machine ready_ms waits for the CPU, the CPU time much less.
// Each figure is the median of the runs. Goals: ready_ms <= 300, rss_mib <= 60.
//
// The command is the npm bin, `node packages/cli/dist/bin.js`; CVMWEB_BIN=<file> measures another
// executable instead (the single-file build: CVMWEB_BIN=packages/cli/dist/sea/cvmweb).
// Last line: RESULT serve ready_ms=… rss_mib=…
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  createProcessRunner,
  releaseLoopbackPort,
  reserveFreeLoopbackPort,
} from '../packages/core/dist/node.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const bin = fileURLToPath(new URL('../packages/cli/dist/bin.js', import.meta.url));
const [file, prefix] = process.env.CVMWEB_BIN ? [process.env.CVMWEB_BIN, []] : [process.execPath, [bin]];
const runner = createProcessRunner();

/** CPU time (user + system) the process has used, in ms: what ready_ms would be on an idle machine, roughly. */
async function cpuMs(pid) {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

/** VmRSS of /proc/<pid>/status and its parts RssAnon and RssFile, in MiB. */
async function memory(pid) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const mib = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]) / 1024;
  return { rss: mib('VmRSS'), anon: mib('RssAnon'), file: mib('RssFile') };
}

/** The pid of the process answering on `port`: the `--json` line names it. */
async function pidFrom(stdout) {
  let text = '';
  for await (const chunk of stdout) {
    text += chunk;
    const line = text.split('\n').find((l) => l.startsWith('{'));
    if (line) return JSON.parse(line).pid;
  }
  throw new Error(`cvmweb serve ended before its JSON line: ${text}`);
}

async function once() {
  const stateDir = await mkdtemp(join(tmpdir(), 'cvmweb-bench-serve-'));
  const port = await reserveFreeLoopbackPort();
  const args = [
    ...prefix,
    'serve',
    '--driver',
    'mock',
    '--json',
    '--port',
    String(port),
    '--state-dir',
    stateDir,
  ];
  const started = performance.now();
  const child = runner.spawn(file, args);
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const pid = pidFrom(child.stdout);
  let ended = false;
  child.exited.then(() => {
    ended = true;
  });
  try {
    let readyMs;
    while (readyMs === undefined) {
      if (ended) throw new Error(`cvmweb serve ended before answering /info: ${stderr}`);
      try {
        const response = await fetch(`http://127.0.0.1:${port}/info`);
        await response.arrayBuffer();
        if (response.ok) readyMs = performance.now() - started;
      } catch {
        await sleep(5);
      }
    }
    const servicePid = await pid;
    const cpu = await cpuMs(servicePid);
    let mem = await memory(servicePid);
    for (let waited = 0; waited < 5000; waited += 250) {
      await sleep(250);
      const next = await memory(servicePid);
      const settled = Math.abs(next.rss - mem.rss) < 0.25;
      mem = next;
      if (settled) break;
    }
    return { readyMs, rss: mem.rss, anon: mem.anon, file: mem.file, cpu };
  } finally {
    child.kill();
    await child.exited;
    releaseLoopbackPort(port);
    await rm(stateDir, { recursive: true, force: true });
  }
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

console.log(`cvmweb serve --driver mock: ${[file, ...prefix].join(' ')}, ${RUNS} runs`);
const results = [];
for (let i = 0; i < RUNS; i++) {
  const result = await once();
  results.push(result);
  console.log(
    `run ${i + 1}: ready ${result.readyMs.toFixed(0)} ms (cpu ${result.cpu.toFixed(0)} ms), rss ${result.rss.toFixed(1)} MiB (anon ${result.anon.toFixed(1)}, file ${result.file.toFixed(1)})`,
  );
}
const readyMs = median(results.map((r) => r.readyMs));
const rss = median(results.map((r) => r.rss));
const cpu = median(results.map((r) => r.cpu));
console.log(
  `median: ready ${readyMs.toFixed(0)} ms (goal <= 300; cpu ${cpu.toFixed(0)} ms by then), rss ${rss.toFixed(1)} MiB (goal <= 60)`,
);
console.log(`RESULT serve ready_ms=${readyMs.toFixed(0)} rss_mib=${rss.toFixed(1)}`);
