// Helpers of bridge-on-kvm.libvirt.test.ts: the bridge service as a child process on the KVM driver. The
// libvirt, test-guest and lock helpers are driver-kvm's (`@cvmweb/driver-kvm/testing`); the test guest
// itself comes from the libvirt project's global setup (`inject('testGuest')`).
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import type { ImageEntry } from '@cvmweb/core';
import {
  libvirtUnavailable as driverLibvirtUnavailable,
  type FileServer,
  guestEntries,
  purgeVms,
  REPO,
  TEST_POOL,
  TEST_POOL_PATH,
  TEST_URI,
} from '@cvmweb/driver-kvm/testing';
import { inject } from 'vitest';

export {
  domState,
  FileServer,
  leftovers,
  lockLibvirt,
  REPO,
  TEST_POOL,
  TEST_POOL_PATH,
  TEST_URI,
  virshOut as virsh,
} from '@cvmweb/driver-kvm/testing';

/** Runs a program; never rejects (exit code -1 when it could not run or timed out). */
export function run(
  file: string,
  args: readonly string[],
  timeoutMs = 60_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      file,
      args,
      { timeout: timeoutMs, env: { ...process.env, LC_ALL: 'C' }, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        done({ code, stdout: String(stdout), stderr: String(stderr || (error ? error.message : '')) });
      },
    );
  });
}

/** Why the real-libvirt tests cannot run here, or `undefined` when they can (driver-kvm's check, and built packages). */
export async function libvirtUnavailable(): Promise<string | undefined> {
  if (process.env['CVMWEB_KVM_TESTS'] === '0') return 'CVMWEB_KVM_TESTS=0';
  for (const pkg of ['core', 'driver-kvm', 'web-bridge']) {
    if (!existsSync(join(REPO, 'packages', pkg, 'dist', 'index.js')))
      return `@cvmweb/${pkg} is not built (run: npx turbo run build --filter=@cvmweb/web-bridge)`;
  }
  return driverLibvirtUnavailable();
}

/** The test guest (built once by test/real-guest-setup.ts, cached between runs) as a `test-kernel` catalog entry. */
export async function testGuestEntry(server: FileServer): Promise<ImageEntry> {
  const entry = guestEntries(server, inject('testGuest').files).find((e) => e.version === 'test-kernel');
  if (!entry) throw new Error('the test guest has no test-kernel entry');
  return entry;
}

/** Removes the cvmweb domains and the volumes whose names start with `prefix` (cleanup after a failure). */
export function purge(prefix: string): Promise<void> {
  return purgeVms(prefix);
}

/** True when nothing listens on 127.0.0.1:`port` (the connection is refused). */
export function portClosed(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = new Socket();
    const finish = (closed: boolean) => {
      socket.destroy();
      done(closed);
    };
    socket.setTimeout(5000, () => finish(false));
    socket.once('error', (error: NodeJS.ErrnoException) => finish(error.code === 'ECONNREFUSED'));
    socket.connect(port, '127.0.0.1', () => finish(false));
  });
}

/** GET `url` (body when 200), or `undefined` when it does not answer in `timeoutMs`. */
export async function httpGet(url: string, timeoutMs = 3000): Promise<string | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return response.ok ? await response.text() : undefined;
  } catch {
    return undefined;
  }
}

/** True while process `pid` exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** The live children of process `pid`, with their command lines. */
export function childrenOf(pid: number): { pid: number; command: string }[] {
  const out: { pid: number; command: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z' || Number(fields[1]) !== pid) continue;
      const command = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim();
      out.push({ pid: Number(entry), command });
    } catch {
      // The process ended while we looked.
    }
  }
  return out;
}

/** Sends `signal` to `pid` when it is alive (a process the test started, directly or through the service). */
export function killPid(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    if (alive(pid)) process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/** What the child prints once it listens. */
export interface ServiceReady {
  readonly port: number;
  readonly hypervisorName: string;
  /** The reconcile report of the start: session ids, and the names of orphan VMs. */
  readonly report: {
    readonly vanished: string[];
    readonly rolledBack: string[];
    readonly updated: string[];
    readonly orphans: string[];
  };
}

/** The configuration of one run of the child service. */
export interface ServiceConfig {
  readonly stateDir: string;
  readonly port: number;
  readonly pidFile: string;
  readonly policyFile: string;
  readonly imageDir: string;
  readonly entries: readonly ImageEntry[];
  /** The virsh program (a wrapper that can hang, see {@link writeVirshWrapper}). */
  readonly virsh: string;
  /** The wrapper hangs on `vol-create-as` of a volume whose name starts with this. */
  readonly hangOnVolume?: string;
  /** Where the hanging wrapper writes its pid. */
  readonly hangPidFile?: string;
}

/**
 * A virsh wrapper that, when `CVMWEB_TEST_HANG` is set, hangs (as `sleep`, same pid, written to
 * `CVMWEB_TEST_HANG_PID`) on the `vol-create-as` of a volume whose name starts with it: the
 * domain is already defined then, so the open is cut short half-way.
 */
export async function writeVirshWrapper(directory: string): Promise<string> {
  const real = (await run('sh', ['-c', 'command -v virsh'])).stdout.trim() || '/usr/bin/virsh';
  const wrapper = join(directory, 'virsh');
  await writeFile(
    wrapper,
    [
      '#!/bin/sh',
      'if [ -n "$CVMWEB_TEST_HANG" ] && [ "$1" = "-c" ] && [ "$3" = "vol-create-as" ]; then',
      '  case "$5" in',
      '  "$CVMWEB_TEST_HANG"*)',
      '    echo $$ >"$CVMWEB_TEST_HANG_PID.tmp" && mv "$CVMWEB_TEST_HANG_PID.tmp" "$CVMWEB_TEST_HANG_PID"',
      '    exec sleep 300 ;;',
      '  esac',
      'fi',
      `exec "${real}" "$@"`,
      '',
    ].join('\n'),
  );
  await chmod(wrapper, 0o755);
  return wrapper;
}

/** The child's program: core + the KVM driver + the bridge service, from the built packages. */
export function serviceScript(): string {
  const url = (p: string) => JSON.stringify(pathToFileURL(join(REPO, 'packages', p)).href);
  return `
import { writeFileSync } from 'node:fs';
const core = await import(${url('core/dist/index.js')});
const { kvm } = await import(${url('driver-kvm/dist/index.js')});
const { BridgeService, PolicyStore } = await import(${url('web-bridge/dist/index.js')});
const config = JSON.parse(process.env.CVMWEB_BRIDGE_KVM_CONFIG);
const print = (value) => process.stdout.write(JSON.stringify(value) + '\\n');
const images = new core.ImageCache({
  directory: config.imageDir,
  catalog: new core.ImageCatalog(config.entries, { defaults: [] }),
});
const cvmweb = await core.createCvmweb({
  driver: kvm({ uri: ${JSON.stringify(TEST_URI)}, pool: ${JSON.stringify(TEST_POOL)}, poolPath: ${JSON.stringify(TEST_POOL_PATH)}, virsh: config.virsh, shutdownTimeoutMs: 15000 }),
  stateDir: config.stateDir,
  secretCost: core.TEST_SCRYPT_COST,
  images,
  stopTimeoutMs: 15000,
  apiTiming: { onlineIntervalMs: 1000, offlineInitialMs: 100, offlineMaxMs: 500, probeTimeoutMs: 2000 },
});
const report = await cvmweb.reconcile();
const policy = await PolicyStore.open({ file: config.policyFile });
const service = new BridgeService({
  cvmweb,
  port: config.port,
  policy,
  version: 'test',
  consentTimeoutMs: 3000,
  onConsentRequest: (request) => print({ consent: request.origin, names: request.names }),
});
await service.start();
writeFileSync(config.pidFile, String(process.pid));
const ids = (records) => records.map((r) => r.id);
print({
  ready: true,
  port: service.port,
  hypervisorName: cvmweb.hypervisorName,
  report: {
    vanished: ids(report.vanished),
    rolledBack: ids(report.rolledBack),
    updated: ids(report.updated),
    orphans: report.orphans.map((vm) => vm.name),
  },
});
const stop = async () => { await service.stop(); await cvmweb.dispose(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
`;
}

/** The service as a separate process, signalled by the pid in its pid file. */
export class ServiceProcess {
  readonly child: ChildProcess;
  readonly ready: Promise<ServiceReady>;
  /** Every JSON line it printed after the ready line (consent requests). */
  readonly lines: Record<string, unknown>[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #stderr = '';
  #pid: number | undefined;

  constructor(
    script: string,
    readonly config: ServiceConfig,
  ) {
    this.child = spawn(process.execPath, [script], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        CVMWEB_BRIDGE_KVM_CONFIG: JSON.stringify(config),
        CVMWEB_TEST_HANG: config.hangOnVolume ?? '',
        CVMWEB_TEST_HANG_PID: config.hangPidFile ?? '',
      },
    });
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString('utf8')).slice(-8000);
    });
    this.exited = new Promise((done) => this.child.once('exit', (code, signal) => done({ code, signal })));
    const lines = createInterface({ input: this.child.stdout! });
    this.ready = new Promise((resolveReady, reject) => {
      lines.on('line', (line) => {
        let value: Record<string, unknown>;
        try {
          value = JSON.parse(line) as Record<string, unknown>;
        } catch {
          return;
        }
        if (value['ready'] !== true) {
          this.lines.push(value);
          return;
        }
        readFile(config.pidFile, 'utf8').then((pid) => {
          this.#pid = Number(pid);
          resolveReady(value as unknown as ServiceReady);
        }, reject);
      });
      void this.exited.then(({ code, signal }) =>
        reject(new Error(`the service exited (${code ?? signal}) before it was ready:\n${this.#stderr}`)),
      );
    });
  }

  /** The pid from the pid file (after {@link ServiceProcess.ready}). */
  get pid(): number | undefined {
    return this.#pid;
  }

  /** Its standard error so far (the end). */
  get stderr(): string {
    return this.#stderr;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * Signals the pid read from the pid file (before the service wrote it: the child's own pid, the
   * same process) and waits for the exit.
   */
  async kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.running) return this.exited;
    try {
      process.kill(this.#pid ?? this.child.pid!, signal);
    } catch {
      // It exited meanwhile.
    }
    return this.exited;
  }
}
