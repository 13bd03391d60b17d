/**
 * One argument of a Windows command line, quoted so that the C runtime's parser (and Node's) reads
 * it back unchanged: quoted when it is empty or holds a blank or a quote, backslashes doubled only
 * before a quote and at the end.
 */
export function quoteWindowsArgument(value: string): string {
  if (value !== '' && !/[\s"]/.test(value)) return value;
  let quoted = '"';
  let backslashes = 0;
  for (const char of value) {
    if (char === '\\') {
      backslashes++;
      continue;
    }
    quoted += char === '"' ? `${'\\'.repeat(backslashes * 2 + 1)}"` : `${'\\'.repeat(backslashes)}${char}`;
    backslashes = 0;
  }
  return `${quoted}${'\\'.repeat(backslashes * 2)}"`;
}

/** Splits a Windows command line as the C runtime does (the inverse of {@link quoteWindowsArgument}). */
export function splitWindowsArguments(line: string): string[] {
  const args: string[] = [];
  let current = '';
  let started = false;
  let quoted = false;
  let i = 0;
  while (i < line.length) {
    const char = line.charAt(i);
    if (char === '\\') {
      let count = 0;
      while (line.charAt(i) === '\\') {
        count++;
        i++;
      }
      if (line.charAt(i) === '"') {
        current += '\\'.repeat(Math.floor(count / 2));
        if (count % 2 === 1) {
          current += '"';
          i++;
        }
      } else current += '\\'.repeat(count);
      started = true;
    } else if (char === '"') {
      if (quoted && line.charAt(i + 1) === '"') {
        current += '"';
        i += 2;
        continue;
      }
      quoted = !quoted;
      started = true;
      i++;
    } else if (!quoted && (char === ' ' || char === '\t')) {
      if (started) args.push(current);
      current = '';
      started = false;
      i++;
    } else {
      current += char;
      started = true;
      i++;
    }
  }
  if (started) args.push(current);
  return args;
}
