/**
 * Renders rows under a header as an aligned plain-text table: two spaces
 * between columns, a dashed rule under the header, no trailing spaces, no final
 * line break. Whitespace runs inside a cell (line breaks in a reason) collapse
 * to one space, other control characters are escaped, and an empty cell prints
 * as `-`, so a value from a page or a hypervisor cannot break the layout.
 */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header.map(clean), ...rows.map((row) => header.map((_, i) => clean(row[i] ?? '')))];
  const widths = header.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  all.splice(
    1,
    0,
    widths.map((width) => '-'.repeat(width)),
  );
  return all
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function clean(value: string): string {
  const collapsed = value
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/\p{Cc}/gu, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return collapsed === '' ? '-' : collapsed;
}
