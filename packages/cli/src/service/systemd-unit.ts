import { checkServiceText, type ServiceSpec } from './service-spec.js';

/** The unit's file name in `~/.config/systemd/user/`. */
export const SYSTEMD_UNIT_NAME = 'cvmweb.service';

/** The first line of the unit: how `uninstall` knows the file is its own. */
export const SYSTEMD_MARKER = '# Written by "cvmweb service install"; "cvmweb service uninstall" removes it.';

/**
 * One argument of `ExecStart=`, double-quoted as systemd.service(5) reads it: backslash and quote
 * escaped, `%` (specifiers) and `$` (variables) doubled.
 */
export function quoteSystemdArgument(value: string): string {
  checkServiceText(value, 'a service argument');
  const escaped = value
    .replace(/\\/g, '\\\\')
    .replace(/"/g, '\\"')
    .replace(/%/g, '%%')
    .replace(/\$/g, '$$$$');
  return `"${escaped}"`;
}

/** The arguments of a unit's `ExecStart=` line as {@link quoteSystemdArgument} wrote them. */
export function parseExecStart(unit: string): string[] | undefined {
  const line = unit.split('\n').find((text) => text.startsWith('ExecStart='));
  if (line === undefined) return undefined;
  return [...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map(([, quoted = '']) =>
    quoted.replace(/\\(.)/g, '$1').replace(/%%/g, '%').replace(/\$\$/g, '$'),
  );
}

/** A systemd user unit that runs `spec.command` at login and restarts it after a failure. */
export function systemdUnit(spec: ServiceSpec): string {
  return [
    SYSTEMD_MARKER,
    '[Unit]',
    'Description=cvmweb web bridge: lets web pages you allow run virtual machines here',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${spec.command.map(quoteSystemdArgument).join(' ')}`,
    'Restart=on-failure',
    'RestartSec=10',
    '',
    '[Install]',
    'WantedBy=default.target',
    '',
  ].join('\n');
}
