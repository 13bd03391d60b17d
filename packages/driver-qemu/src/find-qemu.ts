import * as path from 'node:path';

/** The QEMU architecture name of a Node `process.arch` (`x64` → `x86_64`, `arm64` → `aarch64`). */
export function qemuArch(arch: string): string {
  if (arch === 'x64') return 'x86_64';
  if (arch === 'arm64') return 'aarch64';
  return arch;
}

/** The usual install folders of QEMU per OS, searched after `PATH`. */
export function usualQemuFolders(platform: NodeJS.Platform): string[] {
  switch (platform) {
    case 'darwin':
      // Homebrew on Apple silicon, Homebrew on Intel, MacPorts.
      return ['/opt/homebrew/bin', '/usr/local/bin', '/opt/local/bin'];
    case 'win32':
      // The installers of qemu.org (Stefan Weil's builds) and MSYS2.
      return ['C:\\Program Files\\qemu', 'C:\\msys64\\ucrt64\\bin', 'C:\\msys64\\mingw64\\bin'];
    default:
      return ['/usr/bin', '/usr/local/bin'];
  }
}

/** What {@link findProgram} needs from the machine. */
export interface ProgramLookup {
  readonly platform: NodeJS.Platform;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** True when `file` exists and can be run. */
  isExecutable(file: string): Promise<boolean>;
}

/**
 * Finds `program` (without `.exe`) in `PATH`, then in the usual QEMU folders of the OS, and
 * resolves its full path, or `undefined`. An absolute path is only checked.
 */
export async function findProgram(lookup: ProgramLookup, program: string): Promise<string | undefined> {
  const win = lookup.platform === 'win32';
  const paths = win ? path.win32 : path.posix;
  if (paths.isAbsolute(program)) return (await lookup.isExecutable(program)) ? program : undefined;
  const name = win && !program.toLowerCase().endsWith('.exe') ? `${program}.exe` : program;
  const pathVar = lookup.env['PATH'] ?? lookup.env['Path'] ?? '';
  const folders = [...pathVar.split(win ? ';' : ':').filter(Boolean), ...usualQemuFolders(lookup.platform)];
  const tried = new Set<string>();
  for (const folder of folders) {
    const file = paths.join(folder, name);
    if (tried.has(file)) continue;
    tried.add(file);
    if (await lookup.isExecutable(file)) return file;
  }
  return undefined;
}
