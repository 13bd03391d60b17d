import { withoutWarnings } from './warning-lines.js';

/**
 * Parses `VBoxManage showvminfo --machinereadable` into a map of keys to values.
 *
 * Handles what real versions print: quoted and unquoted keys (`"SATA-0-0"=…`, `BIOS NVRAM File=…`),
 * quoted values with the 6.1+/7.x backslash escapes of `"` and `\`, values spanning several lines
 * (a description with newlines), unquoted values (`memory=1024`, `vrdeproperty[…]=<not set>`), and
 * lines that are not `key=value` at all (7.0's `Encryption:     disabled`, ` rec_screen0`), which
 * are skipped, as are the wrapper script's `WARNING:` blocks.
 */
export function parseMachineReadable(text: string): Map<string, string> {
  const result = new Map<string, string>();
  const lines = withoutWarnings(text).split(/\r?\n/);
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index] ?? '';
    const key = readKey(line);
    if (!key) continue;
    let rest = line.slice(key.end + 1);
    if (!rest.startsWith('"')) {
      result.set(key.name, rest);
      continue;
    }
    // A quoted value ends at the first unescaped quote, possibly on a later line.
    let value = '';
    rest = rest.slice(1);
    for (;;) {
      const end = closingQuote(rest);
      if (end >= 0) {
        value += unescapeValue(rest.slice(0, end));
        break;
      }
      value += `${unescapeValue(rest)}\n`;
      index++;
      if (index >= lines.length) break;
      rest = lines[index] ?? '';
    }
    result.set(key.name, value);
  }
  return result;
}

function readKey(line: string): { name: string; end: number } | undefined {
  if (line.startsWith('"')) {
    const end = line.indexOf('"=', 1);
    return end > 0 ? { name: line.slice(1, end), end: end + 1 } : undefined;
  }
  const end = line.indexOf('=');
  if (end <= 0) return undefined;
  return { name: line.slice(0, end), end };
}

function closingQuote(text: string): number {
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i;
  }
  return -1;
}

function unescapeValue(text: string): string {
  return text.replace(/\\(["\\])/g, '$1');
}

/** One NAT port-forwarding rule, from a `Forwarding(n)` key. */
export interface NatRule {
  readonly name: string;
  readonly protocol: string;
  readonly hostIp: string;
  readonly hostPort: number;
  readonly guestIp: string;
  readonly guestPort: number;
}

/** The NAT rules of a parsed `showvminfo --machinereadable`, in order. */
export function natRules(info: ReadonlyMap<string, string>): NatRule[] {
  const rules: NatRule[] = [];
  for (const [key, value] of info) {
    if (!/^Forwarding\(\d+\)$/.test(key)) continue;
    const [name = '', protocol = '', hostIp = '', hostPort = '', guestIp = '', guestPort = ''] =
      value.split(',');
    rules.push({ name, protocol, hostIp, hostPort: Number(hostPort), guestIp, guestPort: Number(guestPort) });
  }
  return rules;
}

/** One medium attached to a storage controller slot, from a `"<ctl>-<port>-<device>"` key. */
export interface Attachment {
  readonly controller: string;
  readonly port: number;
  readonly device: number;
  /** The medium's file, or `none` / `emptydrive`. */
  readonly medium: string;
  /** The medium's UUID when VirtualBox reports it. */
  readonly uuid?: string;
}

/** The attachments of a parsed `showvminfo --machinereadable`. */
export function attachments(info: ReadonlyMap<string, string>): Attachment[] {
  const controllers = new Set<string>();
  for (const [key, value] of info) if (/^storagecontrollername\d+$/.test(key)) controllers.add(value);
  const result: Attachment[] = [];
  for (const controller of controllers) {
    for (const [key, value] of info) {
      if (!key.startsWith(`${controller}-`)) continue;
      const match = /^(\d+)-(\d+)$/.exec(key.slice(controller.length + 1));
      if (!match) continue;
      const uuid = info.get(`${controller}-ImageUUID-${match[1]}-${match[2]}`);
      result.push({
        controller,
        port: Number(match[1]),
        device: Number(match[2]),
        medium: value,
        ...(uuid ? { uuid } : {}),
      });
    }
  }
  return result;
}
