/**
 * Removes the `WARNING:` blocks that Linux packages' `VBoxManage` wrapper script prints on stdout
 * before any command's own output (`WARNING: The vboxdrv kernel module is not loaded…`,
 * `WARNING: The character device /dev/vboxdrv does not exist…`): a `WARNING:` line, then its
 * indented or blank continuation lines. Everything else is kept as it was.
 */
export function withoutWarnings(stdout: string): string {
  if (!stdout.includes('WARNING:')) return stdout;
  const kept: string[] = [];
  let inBlock = false;
  for (const line of stdout.split(/(?<=\n)/)) {
    if (line.startsWith('WARNING:')) {
      inBlock = true;
      continue;
    }
    if (inBlock && (/^\s/.test(line) || line.trim() === '')) continue;
    inBlock = false;
    kept.push(line);
  }
  return kept.join('');
}
