import { formatTable } from '../text/format-table.js';
import type { Candidate, Detection } from './detection.js';

const COLUMNS = ['driver', 'installed', 'healthy', 'version', 'score', 'verdict', 'fix'] as const;

/**
 * Renders a detection as an aligned plain-text table, one row per candidate in the
 * detection's order, for `cvmweb detect`:
 *
 * ```text
 * driver      installed  healthy  version  score  verdict                            fix
 * ----------  ---------  -------  -------  -----  ---------------------------------  --------------------
 * kvm         yes        yes      8.2.2    100    selected                           -
 * mock        yes        yes      0.1.0    0      score 0: selected only explicitly  -
 * virtualbox  yes        no       7.0.14   50     unhealthy: VT-x is in use by KVM   sudo rmmod kvm_intel
 * ```
 *
 * Missing values print as `-`; whitespace inside values (line breaks in a reason) collapses
 * to single spaces. Lines carry no trailing spaces and the text no final line break.
 */
export function formatDetectionTable(detection: Detection): string {
  return formatTable(
    COLUMNS,
    detection.candidates.map((candidate) => COLUMNS.map((column) => cell(candidate, column))),
  );
}

function cell(candidate: Candidate, column: (typeof COLUMNS)[number]): string {
  const { probe } = candidate;
  switch (column) {
    case 'driver':
      return text(candidate.name);
    case 'installed':
      return probe.installed ? 'yes' : 'no';
    case 'healthy':
      return probe.healthy ? 'yes' : 'no';
    case 'version':
      return text(probe.version);
    case 'score':
      return String(probe.score);
    case 'verdict':
      return candidate.selected
        ? probe.reason
          ? `selected (${probe.reason})`
          : 'selected'
        : text(candidate.rejected);
    case 'fix':
      return text(probe.fix);
  }
}

function text(value: string | undefined): string {
  return value ?? '';
}
