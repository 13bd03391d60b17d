/**
 * The path of the cvmweb guest API's report: an HTTP `GET` on a VM's API endpoint answers a
 * {@link GuestReport} as JSON. The cvmweb test guest (a CGI of busybox `httpd`) and the mock
 * driver's loopback endpoint both serve it; the driver conformance suite reads it to observe the
 * guest the same way for every driver.
 */
export const GUEST_REPORT_PATH = '/cgi-bin/cvmweb-guest';

/**
 * The path that starts the guest's busy loop: an HTTP `GET` starts it (once per boot) and answers
 * at once. From then on {@link GuestReport.spin} counts the loop's work.
 */
export const GUEST_SPIN_PATH = '/cgi-bin/cvmweb-spin';

/** The context medium the guest found at boot, as a {@link GuestReport} gives it. */
export interface GuestContext {
  /** Which file the guest read its user data from: CernVM's `CONTEXT.SH` or a cloud-init `user-data`. */
  readonly format: 'cernvm' | 'cloud-init';
  /** Where the guest found it (a device such as `/dev/sr1`, or `mock` for the mock driver). */
  readonly source: string;
}

/**
 * What the cvmweb guest API answers at {@link GUEST_REPORT_PATH}, one JSON object:
 *
 * ```json
 * { "bootId": "5e0c…", "uptimeMs": 12340, "userData": "[cernvm]\n…", "context": { "format": "cernvm", "source": "/dev/sr1" }, "spin": 0 }
 * ```
 */
export interface GuestReport {
  /** Identifies the current boot: new on every boot and reset, the same across pause and hibernate. */
  readonly bootId: string;
  /** Milliseconds the guest has run since it booted, by its own clock (it stands still while the VM is paused or saved). */
  readonly uptimeMs: number;
  /** The user data the guest read from its context medium (`''` when it found none). */
  readonly userData: string;
  /** The context medium the guest read, or `null` when it found none. */
  readonly context: GuestContext | null;
  /**
   * Work done by the busy loop {@link GUEST_SPIN_PATH} started, in arbitrary units that grow in
   * proportion to the CPU time the guest gets (0 before it starts). The rate of growth over
   * {@link GuestReport.uptimeMs} under an execution cap, divided by the rate without one, is the
   * share of a CPU the cap leaves the guest.
   */
  readonly spin: number;
  /**
   * Optional: the text typed on the guest's screen (its display's keyboard) since it booted, where
   * the guest can tell (the mock driver's guest and the cvmweb test guest can).
   */
  readonly keys?: string;
}

/** Parses the body of a {@link GUEST_REPORT_PATH} answer; `undefined` when it is not a well-formed report. */
export function parseGuestReport(body: string): GuestReport | undefined {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const report = value as Record<string, unknown>;
  const { bootId, uptimeMs, userData, context, spin, keys } = report;
  if (typeof bootId !== 'string' || bootId === '') return undefined;
  if (typeof uptimeMs !== 'number' || !Number.isFinite(uptimeMs) || uptimeMs < 0) return undefined;
  if (typeof userData !== 'string') return undefined;
  if (typeof spin !== 'number' || !Number.isFinite(spin) || spin < 0) return undefined;
  if (keys !== undefined && typeof keys !== 'string') return undefined;
  const typed = keys === undefined ? {} : { keys };
  if (context !== null) {
    if (typeof context !== 'object' || context === undefined) return undefined;
    const { format, source } = context as Record<string, unknown>;
    if ((format !== 'cernvm' && format !== 'cloud-init') || typeof source !== 'string') return undefined;
    return { bootId, uptimeMs, userData, context: { format, source }, spin, ...typed };
  }
  return { bootId, uptimeMs, userData, context: null, spin, ...typed };
}
