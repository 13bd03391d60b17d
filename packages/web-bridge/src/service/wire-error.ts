import { toHypervisorError } from '@cvmweb/core';
import type { WireError } from '../protocol/server-frame.js';

/** Detail keys a page may see; others (paths, command lines, process ids) stay in the service. */
const publicDetails = new Set([
  'field',
  'limit',
  'requested',
  'reason',
  'origin',
  'retryAfterMs',
  'action',
  'state',
  'legalIn',
  'issues',
  'supported',
  'throttled',
  'what',
  'maxFrameBytes',
]);

/**
 * The error object of an error frame for any failure: a `HypervisorError`'s
 * code, name and message, with only the detail keys meant for pages.
 */
export function wireError(error: unknown): WireError {
  const failure = toHypervisorError(error, 'CONTROL', 'the request failed');
  const details: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(failure.details)) {
    if (publicDetails.has(key)) details[key] = value;
  }
  return { code: failure.code, codeName: failure.codeName, message: failure.message, details };
}
