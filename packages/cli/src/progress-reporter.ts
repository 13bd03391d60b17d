import type { CliIo } from './cli-io.js';
import { formatBytes, formatDuration } from './format-bytes.js';

/**
 * Shows download progress: on a terminal, one redrawn line with a bar, size,
 * speed and time left; otherwise a plain line at every 10 % (so logs stay short).
 */
export function progressReporter(io: CliIo, now: () => number = Date.now) {
  const started = now();
  let lastDecile = -1;
  let drawn = false;
  return {
    update(done: number, total: number, message: string): void {
      const elapsed = Math.max(0.001, (now() - started) / 1000);
      const speed = done / elapsed;
      const fraction = total > 0 ? Math.min(1, done / total) : 0;
      const left = total > 0 && speed > 0 ? (total - done) / speed : Number.NaN;
      const size = total > 0 ? `${formatBytes(done)}/${formatBytes(total)}` : formatBytes(done);
      const stats =
        `${size} ${formatBytes(speed)}/s ${total > 0 ? `${formatDuration(left)} left` : ''}`.trim();
      if (io.isTTY) {
        const width = 24;
        const filled = Math.round(fraction * width);
        const bar = `${'='.repeat(filled)}${filled < width ? '>' : ''}${' '.repeat(Math.max(0, width - filled - 1))}`;
        io.out(`\r\x1b[2K${message} [${bar}] ${Math.floor(fraction * 100)}% ${stats}`);
        drawn = true;
        return;
      }
      const decile = Math.floor(fraction * 10);
      if (decile !== lastDecile) {
        lastDecile = decile;
        io.out(`${message}: ${Math.floor(fraction * 100)}% ${stats}\n`);
      }
    },
    finish(): void {
      if (drawn) io.out('\n');
    },
  };
}
