/** What `VBoxManage --version` printed, taken apart. */
export interface VBoxVersion {
  /** The version line as printed, such as `7.0.14_SUSEr161095`. */
  readonly raw: string;
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  /** A distribution's tag between the version and the revision: `SUSE`, `Ubuntu`, `Debian`, `BETA2`, … */
  readonly suffix?: string;
  /** The build revision (the number after `r`). */
  readonly revision?: number;
  /** `WARNING:` blocks printed before the version (by the Linux wrapper script), one string per block. */
  readonly warnings: readonly string[];
}

/** The oldest VirtualBox this driver supports: 6.1 (the first with every `VBoxManage` option it uses). */
export const MINIMUM_VERSION: Readonly<{
  /** The major version, 6. */
  major: number;
  /** The minor version, 1. */
  minor: number;
}> = Object.freeze({ major: 6, minor: 1 });

const VERSION_LINE = /^(\d+)\.(\d+)\.(\d+)(?:_([A-Za-z0-9]+?))?(?:r(\d+))?$/;

/**
 * Parses the output of `VBoxManage --version`: optional `WARNING:` blocks (continuation lines
 * are indented, blank lines belong to the block), then one version line.
 *
 * @returns `undefined` when no version line is found.
 */
export function parseVersion(stdout: string): VBoxVersion | undefined {
  const warnings: string[][] = [];
  let found: VBoxVersion | undefined;
  for (const rawLine of stdout.split(/\r?\n/)) {
    const line = rawLine.trim();
    const match = VERSION_LINE.exec(line);
    if (match && !found) {
      found = {
        raw: line,
        major: Number(match[1]),
        minor: Number(match[2]),
        patch: Number(match[3]),
        ...(match[4] ? { suffix: match[4] } : {}),
        ...(match[5] ? { revision: Number(match[5]) } : {}),
        warnings: [],
      };
      continue;
    }
    if (found) continue;
    if (line.startsWith('WARNING:')) warnings.push([line.slice('WARNING:'.length).trim()]);
    else if (line && warnings.length > 0) warnings[warnings.length - 1]?.push(line);
  }
  if (!found) return undefined;
  return { ...found, warnings: warnings.map((block) => block.join(' ')) };
}

/** `major.minor.patch` of a parsed version. */
export function shortVersion(version: VBoxVersion): string {
  return `${version.major}.${version.minor}.${version.patch}`;
}

/** True when `version` is at least {@link MINIMUM_VERSION}. */
export function isSupportedVersion(version: Pick<VBoxVersion, 'major' | 'minor'>): boolean {
  return (
    version.major > MINIMUM_VERSION.major ||
    (version.major === MINIMUM_VERSION.major && version.minor >= MINIMUM_VERSION.minor)
  );
}
