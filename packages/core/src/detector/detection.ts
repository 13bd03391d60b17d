import type { Driver, ProbeResult } from '../driver/driver.js';

/** One driver as the detector saw it: its probe's verdict, how long it took, and whether it won. */
export interface Candidate {
  /** The driver object that was probed. */
  readonly driver: Driver;
  /** The driver's name ({@link Driver.name}). */
  readonly name: string;
  /**
   * The probe's verdict. A probe that threw, rejected, returned something malformed or
   * outlived the time box is reported here as `installed: true, healthy: false, score: 0`
   * with the reason (the error message, or `probe timed out after N ms`).
   */
  readonly probe: ProbeResult;
  /** How long the probe took, in milliseconds (the original probe's time when the result came from the cache). */
  readonly durationMs: number;
  /** True when {@link Candidate.probe} came from the detector's cache rather than a probe run by this call. */
  readonly cached: boolean;
  /** True for the winner ({@link Detection.winner}). */
  readonly selected: boolean;
  /**
   * Why this candidate did not win, for people: `not installed: …`, `unhealthy: …`,
   * `lower score (30) than kvm (100)`, `same score (100) as kvm, which comes first`,
   * `score 0: selected only explicitly`, or `not requested (CVMWEB_DRIVER=virtualbox)`.
   * Absent on the winner.
   */
  readonly rejected?: string;
}

/** Where a driver override came from: the `prefer` option or the `CVMWEB_DRIVER` environment variable. */
export type OverrideSource = 'option' | 'env';

/** A driver named explicitly by the caller or the environment. */
export interface DetectionOverride {
  /** The requested driver's name. */
  readonly name: string;
  /** `'option'` for the `prefer` option of `detect()`, `'env'` for `CVMWEB_DRIVER`. */
  readonly source: OverrideSource;
}

/**
 * The detector's answer: the chosen driver, if any, and every candidate with its verdict.
 *
 * `winner` is absent when no driver is usable, when every healthy driver has score 0
 * (simulated drivers win only when requested), or when the requested driver
 * ({@link Detection.override}) is not installed or not healthy. The detector never picks
 * another driver in that last case; the caller decides whether to fail or to fall back.
 */
export interface Detection {
  /** The selected driver's candidate (also `candidates[0]`). */
  readonly winner?: Candidate;
  /**
   * Every driver, in this order: the winner (or, with an override, the requested driver
   * whether it won or not), then the other healthy ones by score, highest first, then the
   * installed but unhealthy ones, then the ones not installed. Ties keep the order of the
   * drivers given to `detect()`.
   */
  readonly candidates: readonly Candidate[];
  /** Present when a driver was requested by name. */
  readonly override?: DetectionOverride;
}
