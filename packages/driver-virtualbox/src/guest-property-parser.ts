import { withoutWarnings } from './warning-lines.js';

/**
 * Parses `VBoxManage guestproperty get`: `Value: …` (the value may span lines) or `No value set!`
 * (which VirtualBox prints with exit code 0), giving `undefined` for the latter.
 */
export function parseGuestPropertyGet(stdout: string): string | undefined {
  const text = withoutWarnings(stdout).replace(/\r\n/g, '\n');
  if (!text.startsWith('Value: ')) return undefined;
  return text.slice('Value: '.length).replace(/\n$/, '');
}

/** One guest property of `VBoxManage guestproperty enumerate`. */
export interface GuestProperty {
  readonly name: string;
  readonly value: string;
  /** VirtualBox's time stamp as printed: nanoseconds (6.x) or an ISO date (7.x). */
  readonly timestamp: string;
  readonly flags: string;
}

const OLD_FORMAT = /^Name: (.*?), value: (.*), timestamp: (\d+), flags: ?(.*)$/;
const NEW_FORMAT = /^(\S+)\s+= '(.*)'\s*@ (\S+)(?: (.*))?$/;

/** Parses `guestproperty enumerate` in the 6.x format (`Name: …, value: …`) and the 7.x one (`name = 'value' @ date`). */
export function parseGuestPropertyEnumerate(stdout: string): GuestProperty[] {
  const properties: GuestProperty[] = [];
  for (const line of stdout.split(/\r?\n/)) {
    const old = OLD_FORMAT.exec(line);
    if (old) {
      properties.push({
        name: old[1] ?? '',
        value: old[2] ?? '',
        timestamp: old[3] ?? '',
        flags: (old[4] ?? '').trim(),
      });
      continue;
    }
    const current = NEW_FORMAT.exec(line);
    if (current) {
      properties.push({
        name: current[1] ?? '',
        value: current[2] ?? '',
        timestamp: current[3] ?? '',
        flags: (current[4] ?? '').trim(),
      });
    }
  }
  return properties;
}
