import { ErrorCode, type ErrorCodeName, type HypervisorError, toHypervisorError } from '@cvmweb/core';
import type { WireError } from './server-frame.js';

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
 * What a page reads about a failure, per error code: fixed words, because the
 * driver's own message may name state-directory paths and whole command lines.
 */
export const pageErrorMessages: Readonly<Record<ErrorCodeName, string>> = Object.freeze({
  SCHEDULED: 'the request was scheduled',
  OK: 'the request succeeded',
  ALREADY_EXISTS: 'it exists already',
  CREATE: 'the hypervisor could not create the virtual machine',
  MODIFY: 'the hypervisor could not change the virtual machine',
  CONTROL: 'the hypervisor could not control the virtual machine',
  DELETE: 'the hypervisor could not remove the virtual machine',
  QUERY: 'the hypervisor could not be queried',
  IO: 'an input/output error occurred on this computer',
  EXTERNAL: 'a program the hypervisor needs failed',
  INVALID_STATE: 'the session is not in a state that allows this',
  NOT_FOUND: 'not found',
  NOT_ALLOWED: 'not allowed',
  NOT_SUPPORTED: 'the hypervisor does not support this',
  NOT_VALIDATED: 'a download could not be validated',
  NOT_TRUSTED: 'a download is not trusted',
  STILL_WORKING: 'an earlier request is still running',
  PASSWORD_DENIED: 'wrong secret key for this session',
  INVALID_USAGE: 'invalid arguments',
  NOT_IMPLEMENTED: 'this service does not implement it',
});

/** Errors the service wrote for pages: their messages carry no host details and are sent as they are. */
const pageSafe = new WeakSet<HypervisorError>();

/**
 * Marks an error the service itself made for pages (limits, consent,
 * validation of frames): {@link wireError} sends its message unchanged to
 * every origin. Every other failure reaches pages with a fixed message.
 */
export function forPages<T extends HypervisorError>(error: T): T {
  pageSafe.add(error);
  return error;
}

/**
 * The fixed message pages read for a failure with `code` (a number or a
 * name), prefixed with the action that failed when known: `open failed: the
 * hypervisor could not create the virtual machine`.
 */
export function pageErrorMessage(code: number | string, action?: string): string {
  const name =
    typeof code === 'string' ? code : Object.entries(ErrorCode).find(([, value]) => value === code)?.[0];
  const text = Object.hasOwn(pageErrorMessages, name ?? '')
    ? pageErrorMessages[name as ErrorCodeName]
    : 'the request failed';
  return action ? `${action} failed: ${text}` : text;
}

/** Options of {@link wireError}. */
export interface WireErrorOptions {
  /**
   * The connection's origin is privileged: it reads the failure's own message
   * (which may name paths and command lines). Default false.
   */
  readonly privileged?: boolean;
  /** The action that failed (the frame's `op`), for the fixed message. */
  readonly action?: string;
}

/**
 * The error object of an error frame for any failure: a `HypervisorError`'s
 * code and name, only the detail keys meant for pages, and a message that is
 * the failure's own for errors the service made for pages ({@link forPages})
 * and for privileged origins, else the fixed one of its code
 * ({@link pageErrorMessage}): never the driver's text.
 */
export function wireError(error: unknown, options: WireErrorOptions = {}): WireError {
  const failure = toHypervisorError(error, 'CONTROL', 'the request failed');
  const details: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(failure.details)) {
    if (publicDetails.has(key)) details[key] = value;
  }
  const message =
    options.privileged === true || pageSafe.has(failure)
      ? failure.message
      : pageErrorMessage(failure.codeName, options.action);
  return { code: failure.code, codeName: failure.codeName, message, details };
}
