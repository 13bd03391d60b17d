/** What one read of an idle source says: seconds without user input, or why it cannot tell. */
export type IdleReading =
  | {
      /** Seconds since the user's last input. */
      readonly idleSeconds: number;
      /** Where the number came from, when the source says (e.g. which session). */
      readonly detail?: string;
    }
  | {
      /** Why the idle time cannot be known now. */
      readonly unknown: string;
    };

/**
 * A probe's verdict on an idle source:
 * - `usable`: it can read idle time here;
 * - `not-applicable`: it does not concern this machine (other OS, no display, no login session);
 * - `broken`: it concerns this machine but fails (tool missing, command errors).
 */
export type IdleProbeStatus = 'usable' | 'not-applicable' | 'broken';

/** The verdict of {@link IdleSource.probe}. */
export interface IdleProbe {
  /** See {@link IdleProbeStatus}. */
  readonly status: IdleProbeStatus;
  /** Preference among usable sources, higher first (0–100). */
  readonly score: number;
  /** Why it is not usable, or a note on its limits when it is. */
  readonly reason?: string;
}

/** Options of a read or probe. */
export interface IdleReadOptions {
  /** Cancels the read; it then rejects (a source never reports a cancelled read as idle). */
  signal?: AbortSignal;
}

/**
 * Where the daemon learns how long the user has given no input. Every
 * platform has one implementation; {@link pickIdleSource} chooses among them
 * with the same probe-and-score pattern as hypervisor detection.
 *
 * `read()` never throws for an ordinary failure (tool missing, no display):
 * it answers `{ unknown: reason }`, and the daemon never counts unknown as idle.
 */
export interface IdleSource {
  /** Short name: `x11`, `logind`, `macos`, `windows`, `host-load`, `fake`, … */
  readonly name: string;
  /** Whether this source applies here and works. */
  probe(options?: IdleReadOptions): Promise<IdleProbe>;
  /** Current idle seconds, or unknown with the reason. */
  read(options?: IdleReadOptions): Promise<IdleReading>;
  /** Releases resources (child processes, timers). Optional. */
  dispose?(): Promise<void>;
}

/** True when `reading` is a known idle time. */
export function isKnown(
  reading: IdleReading,
): reading is Extract<IdleReading, { readonly idleSeconds: number }> {
  return 'idleSeconds' in reading;
}

/** The reading as text: `12 s` or `unknown: <reason>`. */
export function formatReading(reading: IdleReading): string {
  if (!isKnown(reading)) return `unknown: ${reading.unknown}`;
  return `${Math.floor(reading.idleSeconds)} s${reading.detail ? ` (${reading.detail})` : ''}`;
}
