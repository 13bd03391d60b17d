import { mkdir, readFile, unlink } from 'node:fs/promises';
import { homedir, userInfo } from 'node:os';
import { dirname, resolve } from 'node:path';
import { createProcessRunner, type ProcessRunner, writeFileAtomic } from '@cvmweb/core/node';
import { DEFAULT_PORT } from '@cvmweb/web-bridge';
import type { CliIo } from '../cli-io.js';
import { ExitCode } from '../exit-codes.js';
import { usageError } from '../usage-error.js';
import { type ManagerOutcome, type ServicePlatform, servicePlatform } from './service-platforms.js';
import { cvmwebProgram } from './service-program.js';
import { checkServiceText } from './service-spec.js';

/** Flags of {@link serviceCommand}: those of `serve` the service runs with, `--print` and `--json`. */
export interface ServiceFlags {
  /** The port `serve` listens on (default 5624); `status` asks it. */
  port?: number;
  /** `serve --driver`. */
  driver?: string;
  /** `serve --fallback mock`. */
  fallback?: string;
  /** `serve --state-dir` (made absolute). */
  stateDir?: string;
  /** `install`: print the file and its path, write nothing, run nothing. */
  print?: boolean;
  /** `status`: one JSON object. */
  json?: boolean;
}

/** The machine a service is installed on; tests inject another platform, home and program. */
export interface ServiceHost {
  /** Whose service kind: `linux` (systemd), `darwin` (launchd), `win32` (Task Scheduler). */
  platform: NodeJS.Platform;
  /** The user's home directory. */
  homeDir: string;
  /** The user's uid (macOS). */
  uid?: number | undefined;
  /** The account whose logon starts the task (Windows). */
  user?: string | undefined;
  /** The absolute program (and leading arguments) that runs `cvmweb`. */
  program: () => string[];
  /** Runs the platform's service manager (default: a runner with `io.env`'s PATH). */
  runner?: ProcessRunner;
}

/** This machine: `process.platform`, the home directory, and this `cvmweb` (see {@link cvmwebProgram}). */
export function processServiceHost(env: NodeJS.ProcessEnv): ServiceHost {
  return {
    platform: process.platform,
    homeDir: homedir(),
    uid: process.getuid?.(),
    user:
      env['USERDOMAIN'] && env['USERNAME'] ? `${env['USERDOMAIN']}\\${env['USERNAME']}` : userInfo().username,
    program: () => cvmwebProgram(),
  };
}

function serveArguments(flags: ServiceFlags): string[] {
  const port = flags.port ?? DEFAULT_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw usageError(`--port takes a port number from 1 to 65535, not ${String(flags.port)}`);
  }
  if (flags.fallback !== undefined && flags.fallback !== 'mock') {
    throw usageError(`--fallback takes "mock", not "${flags.fallback}"`);
  }
  if (flags.driver !== undefined && !/^[\w@][\w@./-]*$/.test(flags.driver)) {
    throw usageError(`--driver takes a driver name, not "${flags.driver}"`);
  }
  return [
    'serve',
    '--port',
    String(port),
    ...(flags.driver ? ['--driver', flags.driver] : []),
    ...(flags.fallback ? ['--fallback', flags.fallback] : []),
    ...(flags.stateDir ? ['--state-dir', checkServiceText(resolve(flags.stateDir), '--state-dir')] : []),
  ];
}

async function readIfThere(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function notOurs(file: string): never {
  throw usageError(`${file} was not written by "cvmweb service install": move it away first`);
}

function report(io: CliIo, outcome: ManagerOutcome): boolean {
  for (const line of outcome.done) io.out(`  ${line}\n`);
  if (outcome.problem === undefined) return true;
  io.err(`cvmweb: ${outcome.problem}\n  Fix: ${outcome.fix ?? ''}\n`);
  return false;
}

async function install(
  io: CliIo,
  platform: ServicePlatform,
  host: ServiceHost,
  flags: ServiceFlags,
  env: NodeJS.ProcessEnv,
) {
  const spec = {
    command: [...host.program(), ...serveArguments(flags)],
    homeDir: host.homeDir,
    path: env['PATH'],
    user: host.user,
  };
  const { text, bytes } = platform.render(spec);
  if (flags.print) {
    io.out(`# ${platform.kind}: ${platform.file}\n${text}`);
    return ExitCode.OK;
  }
  const existing = await readIfThere(platform.file);
  if (existing !== undefined && platform.commandOf(existing) === undefined) notOurs(platform.file);
  const changed = existing === undefined || !existing.equals(bytes);
  if (changed) {
    await mkdir(dirname(platform.file), { recursive: true });
    await writeFileAtomic(platform.file, bytes);
    io.out(`Wrote the ${platform.kind} ${platform.file}\n`);
  } else io.out(`Unchanged: the ${platform.kind} ${platform.file} is installed already\n`);
  return report(io, await platform.activate(changed)) ? ExitCode.OK : ExitCode.SERVICE_NOT_ENABLED;
}

async function uninstall(io: CliIo, platform: ServicePlatform) {
  const existing = await readIfThere(platform.file);
  if (existing === undefined) {
    io.out(`Not installed: there is no ${platform.file}\n`);
    return ExitCode.OK;
  }
  if (platform.commandOf(existing) === undefined) notOurs(platform.file);
  const outcome = await platform.deactivate();
  for (const line of outcome.done) io.out(`  ${line}\n`);
  // A manager that is not running has nothing enabled to stop; the files still go.
  if (outcome.problem !== undefined) io.out(`  (${outcome.problem})\n`);
  await unlink(platform.file);
  await platform.forget();
  io.out(`Removed the ${platform.kind} ${platform.file}\n`);
  for (const file of platform.madeByService) {
    if (
      await unlink(file).then(
        () => true,
        () => false,
      )
    )
      io.out(`Removed ${file}\n`);
  }
  return ExitCode.OK;
}

/** What `/info` on 127.0.0.1:`port` says, or `undefined` when nothing answers there within 2 s. */
async function askInfo(port: number): Promise<Record<string, unknown> | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/info`, { signal: AbortSignal.timeout(2000) });
    return response.ok ? ((await response.json()) as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

async function status(io: CliIo, platform: ServicePlatform, flags: ServiceFlags) {
  const existing = await readIfThere(platform.file);
  const command = existing === undefined ? undefined : platform.commandOf(existing);
  const portIndex = command?.indexOf('--port') ?? -1;
  const port = flags.port ?? (portIndex >= 0 ? Number(command?.[portIndex + 1]) : DEFAULT_PORT);
  const [state, info] = await Promise.all([command ? platform.state() : undefined, askInfo(port)]);
  const installed = command !== undefined;
  const answers = info !== undefined;
  if (flags.json) {
    io.out(
      `${JSON.stringify({ installed, kind: platform.kind, file: platform.file, command: command ?? null, manager: state ?? null, port, answers, info: info ?? null })}\n`,
    );
  } else {
    io.out(
      `${platform.kind}: ${installed ? 'installed' : existing ? 'NOT installed (another file is there)' : 'not installed'} (${platform.file})\n` +
        (installed ? `Manager: ${state ?? 'not running here, or it does not know the service'}\n` : '') +
        `Port ${port}: ${answers ? `answers (hypervisor ${String(info?.['hypervisorName'])})` : 'nothing answers'}\n`,
    );
  }
  return installed && answers ? ExitCode.OK : ExitCode.SERVICE_DOWN;
}

/**
 * `cvmweb service install | uninstall | status`: starts `cvmweb serve` at login as a systemd user
 * unit (Linux), a launchd LaunchAgent (macOS) or a Task Scheduler logon task (Windows).
 * `install` writes the file (`--print`: only shows it) and enables and starts it where the
 * platform's manager runs; without one it says so, keeps the file and exits 5. A second `install`
 * changes nothing. `uninstall` stops the service and removes what `install` made. `status` exits 0
 * when the service is installed and answers on its port, else 6.
 */
export async function serviceCommand(
  io: CliIo,
  args: readonly string[],
  flags: ServiceFlags,
  host: ServiceHost = processServiceHost(io.env),
): Promise<number> {
  const [sub, ...extra] = args;
  if (extra.length > 0 || (sub !== 'install' && sub !== 'uninstall' && sub !== 'status')) {
    throw usageError(
      `unknown service arguments: ${args.join(' ') || '(none)'} (use install, uninstall or status)`,
    );
  }
  if (flags.print && sub !== 'install') throw usageError('--print goes with "service install"');
  const platform = servicePlatform({
    platform: host.platform,
    homeDir: host.homeDir,
    env: io.env,
    uid: host.uid,
    runner: host.runner ?? createProcessRunner({ env: { PATH: io.env['PATH'] } }),
  });
  if (sub === 'install') return install(io, platform, host, flags, io.env);
  if (sub === 'uninstall') return uninstall(io, platform);
  return status(io, platform, flags);
}
