import { join } from 'node:path';
import { build, type PlistValue, parse } from 'plist';
import { checkServiceText, type ServiceSpec } from './service-spec.js';

/** The LaunchAgent's label, also its file name in `~/Library/LaunchAgents/` (with `.plist`). */
export const LAUNCHD_LABEL = 'cvmweb.serve';

/** Where the agent's output goes: `~/Library/Logs/cvmweb-serve.log`. */
export function launchdLogFile(homeDir: string): string {
  return join(homeDir, 'Library', 'Logs', 'cvmweb-serve.log');
}

/**
 * A launchd LaunchAgent (an XML property list, built by the `plist` library) that runs
 * `spec.command` at login and again if it fails, with the installing user's `PATH`.
 */
export function launchdPlist(spec: ServiceSpec): string {
  const log = launchdLogFile(spec.homeDir);
  const agent: Record<string, PlistValue> = {
    Label: LAUNCHD_LABEL,
    ProgramArguments: spec.command.map((arg) => checkServiceText(arg, 'a service argument')),
    RunAtLoad: true,
    // Started again after a crash or a failure; a clean stop (exit 0) stays stopped.
    KeepAlive: { SuccessfulExit: false },
    StandardOutPath: log,
    StandardErrorPath: log,
  };
  if (spec.path) agent['EnvironmentVariables'] = { PATH: checkServiceText(spec.path, 'PATH') };
  return build(agent);
}

/** The `ProgramArguments` of an agent this module wrote, or `undefined` for another file. */
export function parseLaunchdArguments(text: string): string[] | undefined {
  let agent: PlistValue;
  if (!text.includes('<plist')) return undefined;
  try {
    agent = parse(text);
  } catch {
    return undefined;
  }
  if (typeof agent !== 'object' || agent === null || Array.isArray(agent)) return undefined;
  const record = agent as Record<string, PlistValue>;
  const args = record['ProgramArguments'];
  if (record['Label'] !== LAUNCHD_LABEL || !Array.isArray(args)) return undefined;
  return args.filter((arg): arg is string => typeof arg === 'string');
}
