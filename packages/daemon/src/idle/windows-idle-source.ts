import { defaultIdleCommandRunner, describeFailure, type IdleCommandRunner } from './command-runner.js';
import type { IdleProbe, IdleReading, IdleReadOptions, IdleSource } from './idle-source.js';

/** Options of {@link windowsIdleSource}. */
export interface WindowsIdleSourceOptions {
  /** Runs PowerShell; default: core's process runner. */
  runner?: IdleCommandRunner;
  /** Default `process.platform`. */
  platform?: NodeJS.Platform;
  /** The PowerShell program; default `powershell.exe` (Windows PowerShell 5.1, present on every Windows 10/11). */
  command?: string;
  /** Time limit of one run, ms (default 10 000: PowerShell starts slowly). */
  timeoutMs?: number;
}

/**
 * The PowerShell script: calls user32 `GetLastInputInfo` and prints the
 * process's session id and the milliseconds since the last input
 * (`GetTickCount` minus `dwTime`, both 32-bit, wrapping every 49.7 days, so
 * the subtraction is done unsigned).
 */
export const WINDOWS_IDLE_SCRIPT = `$ErrorActionPreference = 'Stop'
Add-Type -TypeDefinition @'
using System;
using System.Runtime.InteropServices;
public static class CvmwebIdle {
  [StructLayout(LayoutKind.Sequential)] struct LASTINPUTINFO { public uint cbSize; public uint dwTime; }
  [DllImport("user32.dll")] static extern bool GetLastInputInfo(ref LASTINPUTINFO info);
  public static long IdleMs() {
    LASTINPUTINFO info = new LASTINPUTINFO();
    info.cbSize = (uint)Marshal.SizeOf(info);
    if (!GetLastInputInfo(ref info)) return -1;
    return unchecked((uint)Environment.TickCount - info.dwTime);
  }
}
'@
$s = [System.Diagnostics.Process]::GetCurrentProcess().SessionId
"session=$s idle_ms=$([CvmwebIdle]::IdleMs())"`;

/**
 * Parses the script's line `session=<n> idle_ms=<ms>`. Session 0 is where
 * services run: it has no interactive desktop, so `GetLastInputInfo` there
 * never sees the user's input, and the reading is unknown rather than "idle forever".
 */
export function parseWindowsIdle(stdout: string): IdleReading {
  const match = /session=(\d+)\s+idle_ms=(-?\d+)/.exec(stdout);
  if (!match)
    return {
      unknown: `PowerShell printed something unexpected: ${JSON.stringify(stdout.trim().slice(0, 80))}`,
    };
  if (match[1] === '0')
    return { unknown: 'running in session 0 (a service): it cannot see the user’s input' };
  const ms = Number(match[2]);
  if (ms < 0) return { unknown: 'GetLastInputInfo failed' };
  return { idleSeconds: ms / 1000 };
}

/**
 * Windows input idle time through `GetLastInputInfo`, called from PowerShell.
 *
 * Limits: the daemon must run in the user's interactive session (started with
 * the user's login, not as a service: a service in session 0 cannot see user
 * input, and this source then says unknown). Each read starts PowerShell,
 * which costs a few hundred milliseconds of CPU; the daemon reads only as often
 * as its poll intervals require.
 */
export function windowsIdleSource(options: WindowsIdleSourceOptions = {}): IdleSource {
  const runner = options.runner ?? defaultIdleCommandRunner;
  const platform = options.platform ?? process.platform;
  const command = options.command ?? 'powershell.exe';
  const timeoutMs = options.timeoutMs ?? 10_000;
  const read = async ({ signal }: IdleReadOptions = {}): Promise<IdleReading> => {
    if (platform !== 'win32') return { unknown: 'not Windows' };
    const result = await runner.run(
      command,
      ['-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-Command', WINDOWS_IDLE_SCRIPT],
      { signal, timeoutMs, reject: false },
    );
    if (result.exitCode !== 0) return { unknown: describeFailure(command, result) };
    return parseWindowsIdle(result.stdout);
  };
  return {
    name: 'windows',
    async probe(probeOptions: IdleReadOptions = {}): Promise<IdleProbe> {
      if (platform !== 'win32') return { status: 'not-applicable', score: 0, reason: 'not Windows' };
      const reading = await read(probeOptions);
      return 'unknown' in reading
        ? { status: 'broken', score: 0, reason: reading.unknown }
        : { status: 'usable', score: 90 };
    },
    read,
  };
}
