import { parseArgs } from 'node:util';
import { DRIVER_ENV_VARIABLE, isHypervisorError } from '@cvmweb/core';
import type { CliIo } from './cli-io.js';
import { ExitCode } from './exit-codes.js';
import { withDriverPlugins } from './plugins/with-driver-plugins.js';
import { usageError } from './usage-error.js';

/** The text of `cvmweb --help`. */
export const usage = `Usage: cvmweb <command> [options]

Commands:
  serve                  Start the web bridge for pages (test page at http://127.0.0.1:5624/)
  detect                 List the hypervisors found here and which one cvmweb would use
  sessions               List the sessions in the registry (damaged records: on stderr, exit 4)
  images list            List cached images
  images pull <version>  Download and verify an image (a catalog version such as 1.3)
  images prune           Remove cached images and partial downloads
  daemon                 Run the idle-aware daemon against the session registry (until stopped)
  daemon status          Show the idle source, the idle time and each controlled session
  service install        Start "cvmweb serve" at login: a systemd user unit (Linux), a launchd
                         LaunchAgent (macOS) or a Task Scheduler logon task (Windows); enables and
                         starts it where that manager runs (--print: show the file, write nothing)
  service uninstall      Stop the login service and remove what install made
  service status         Whether it is installed, what its manager says, whether its port answers

Options:
  --json                 Machine-readable output (detect, sessions, images list)
  --driver <name>        Use this driver (also: CVMWEB_DRIVER; service install: passed to serve)
  --fallback mock        serve, service install: use the simulated hypervisor when no real one is usable
  --port <port>          serve, service: TCP port on 127.0.0.1 and ::1 (default 5624)
  --print                service install: print the file and its path instead of installing
  --state-dir <dir>      State directory: session registry, config.json (also: CVMWEB_STATE_DIR)
  --cache-dir <dir>      Image cache directory (also: CVMWEB_CACHE_DIR)
  --catalog <file>       Image catalog to use instead of <state-dir>/images.json
  --all                  images prune: remove every cached image
  --keep <version>       images prune: keep this version (repeatable)
  --idle-time <seconds>  daemon: seconds without input before the system counts as idle (default 30)
  --debug                Print stack traces of failures; serve: also the sessions' debug
                         streams, with screenshots saved in <state-dir>/debug-screenshots/
  -h, --help             Show this help
  -v, --version          Show the version

Driver plug-ins (detect, serve, daemon): the modules named in CVMWEB_DRIVER_MODULES
(comma-separated) and in <state-dir>/config.json ({ "drivers": ["cvmweb-driver-acme"] }),
resolved from the working directory, then the global node_modules.

serve and daemon stop cleanly, exiting 0, on SIGINT, SIGTERM, SIGHUP or when their parent process ends.

Exit codes: 0 success, 1 failure (the message names the error code), 2 wrong usage,
3 detect found no usable hypervisor, 4 sessions found damaged session records,
5 service install wrote the file but no service manager enabled it, 6 service status: not
installed or not answering.
`;

/**
 * Runs the `cvmweb` command with `argv` (without the node and script paths)
 * and returns its exit code. Failures print one line naming the cvmweb error
 * code; stack traces only with `--debug`.
 */
export async function run(argv: readonly string[], io: CliIo, version = '0.0.0'): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    io.err(
      `cvmweb: ${error instanceof Error ? error.message : String(error)}\nRun "cvmweb --help" for usage.\n`,
    );
    return ExitCode.USAGE;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.out(usage);
    return ExitCode.OK;
  }
  if (values.version) {
    io.out(`${version}\n`);
    return ExitCode.OK;
  }
  const [command, ...rest] = positionals;
  // Commands that pick a driver choose among the built-in ones and the driver plug-ins. Each
  // command's module is loaded when it runs: start-up reads only the code of the command run.
  const stateDirOption = values['state-dir'] ? { stateDir: values['state-dir'] } : {};
  try {
    switch (command) {
      case 'serve': {
        if (rest.length > 0) throw usageError(`unexpected argument "${rest[0]}"`);
        const { serveCommand } = await import('./commands/serve-command.js');
        // Told which driver to use, serve loads no other built-in one.
        const driver = values.driver ?? io.env[DRIVER_ENV_VARIABLE];
        return await serveCommand(await withDriverPlugins(io, { ...stateDirOption, driver }), {
          json: values.json,
          debug: values.debug,
          ...(values.port !== undefined ? { port: Number(values.port) } : {}),
          ...(values.driver ? { driver: values.driver } : {}),
          ...(values['state-dir'] ? { stateDir: values['state-dir'] } : {}),
          ...(values.fallback !== undefined ? { fallback: values.fallback } : {}),
        });
      }
      case 'detect': {
        const { detectCommand } = await import('./commands/detect-command.js');
        return await detectCommand(await withDriverPlugins(io, stateDirOption), {
          json: values.json,
          ...(values.driver ? { driver: values.driver } : {}),
        });
      }
      case 'sessions': {
        const { sessionsCommand } = await import('./commands/sessions-command.js');
        return await sessionsCommand(io, {
          json: values.json,
          ...(values['state-dir'] ? { stateDir: values['state-dir'] } : {}),
        });
      }
      case 'images': {
        const { imagesCommand } = await import('./commands/images-command.js');
        return await imagesCommand(io, rest, {
          json: values.json,
          all: values.all,
          keep: values.keep ?? [],
          ...(values['cache-dir'] ? { cacheDir: values['cache-dir'] } : {}),
          ...(values['state-dir'] ? { stateDir: values['state-dir'] } : {}),
          ...(values.catalog ? { catalog: values.catalog } : {}),
        });
      }
      case 'daemon': {
        const { daemonCommand } = await import('./commands/daemon-command.js');
        return await daemonCommand(await withDriverPlugins(io, stateDirOption), rest, {
          json: values.json,
          ...(values['state-dir'] ? { stateDir: values['state-dir'] } : {}),
          ...(values['idle-time'] !== undefined ? { idleTime: Number(values['idle-time']) } : {}),
        });
      }
      case 'service': {
        const { serviceCommand } = await import('./service/service-command.js');
        return await serviceCommand(io, rest, {
          print: values.print,
          json: values.json,
          ...(values.port !== undefined ? { port: Number(values.port) } : {}),
          ...(values.driver ? { driver: values.driver } : {}),
          ...(values.fallback !== undefined ? { fallback: values.fallback } : {}),
          ...(values['state-dir'] ? { stateDir: values['state-dir'] } : {}),
        });
      }
      case undefined:
        io.err(usage);
        return ExitCode.USAGE;
      default:
        io.err(`cvmweb: unknown command "${command}"\nRun "cvmweb --help" for usage.\n`);
        return ExitCode.USAGE;
    }
  } catch (error) {
    if (isHypervisorError(error)) {
      if (error.codeName === 'INVALID_USAGE' && error.details['cli'] === true) {
        io.err(`cvmweb: ${error.message}\nRun "cvmweb --help" for usage.\n`);
        return ExitCode.USAGE;
      }
      io.err(`cvmweb: ${error.codeName} (${error.code}): ${error.message}\n`);
    } else {
      io.err(`cvmweb: unexpected failure: ${error instanceof Error ? error.message : String(error)}\n`);
    }
    if (values.debug && error instanceof Error) io.err(`${error.stack ?? ''}\n`);
    return ExitCode.FAILED;
  }
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      json: { type: 'boolean', default: false },
      driver: { type: 'string' },
      'state-dir': { type: 'string' },
      'cache-dir': { type: 'string' },
      catalog: { type: 'string' },
      all: { type: 'boolean', default: false },
      keep: { type: 'string', multiple: true },
      'idle-time': { type: 'string' },
      port: { type: 'string' },
      fallback: { type: 'string' },
      print: { type: 'boolean', default: false },
      debug: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      version: { type: 'boolean', short: 'v', default: false },
    },
  });
}
