/**
 * How many signals `AbortSignal.any()` composed from `signal` and still holds (Node's internal
 * set; 0 if absent): a long-lived signal that gains one per call leaks (nodejs/node#55351).
 */
export function dependantSignals(signal: AbortSignal): number {
  const key = Object.getOwnPropertySymbols(signal).find((k) => k.description === 'kDependantSignals');
  // Node's internal SafeSet: not `instanceof Set` in the test's realm, so read its size.
  const set = key ? (signal as unknown as Record<symbol, { size?: unknown } | undefined>)[key] : undefined;
  return typeof set?.size === 'number' ? set.size : 0;
}
