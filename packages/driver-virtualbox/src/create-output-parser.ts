import { withoutWarnings } from './warning-lines.js';

/** What `VBoxManage createvm --register` printed. */
export interface CreatedVm {
  readonly name: string;
  readonly uuid: string;
  readonly settingsFile: string;
}

/** Parses the output of `createvm`; `undefined` when the UUID line is missing. */
export function parseCreateVm(output: string): CreatedVm | undefined {
  const stdout = withoutWarnings(output);
  const name = /^Virtual machine '(.*)' is created/m.exec(stdout)?.[1] ?? '';
  const uuid = /^UUID: ([0-9a-fA-F-]{36})$/m.exec(stdout)?.[1];
  const settingsFile = /^Settings file: '(.*)'$/m.exec(stdout)?.[1] ?? '';
  return uuid ? { name, uuid: uuid.toLowerCase(), settingsFile } : undefined;
}

/** Parses the UUID out of `createmedium` (`Medium created. UUID: …`, 4.x: `Disk image created. UUID: …`). */
export function parseCreateMedium(stdout: string): string | undefined {
  return /(?:Medium|Disk image) created\. UUID: ([0-9a-fA-F-]{36})/
    .exec(withoutWarnings(stdout))?.[1]
    ?.toLowerCase();
}
