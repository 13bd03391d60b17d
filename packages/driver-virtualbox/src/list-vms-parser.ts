/** One line of `VBoxManage list vms`. */
export interface ListedVm {
  readonly name: string;
  readonly uuid: string;
}

// The name is printed between quotes without escaping, so it may itself hold quotes and spaces:
// the UUID in braces at the end of the line is the only reliable anchor.
const LINE = /^"(.*)" \{([0-9a-fA-F-]{36})\}$/;

/** Parses `VBoxManage list vms` (or `list runningvms`); an empty output is an empty list. */
export function parseListVms(stdout: string): ListedVm[] {
  const vms: ListedVm[] = [];
  for (const line of stdout.split(/\r?\n/)) {
    const match = LINE.exec(line);
    if (match) vms.push({ name: match[1] ?? '', uuid: (match[2] ?? '').toLowerCase() });
  }
  return vms;
}
