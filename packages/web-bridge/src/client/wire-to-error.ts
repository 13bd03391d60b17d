import { HypervisorError, isErrorCode } from '@cvmweb/core/browser';
import type { WireError } from '../protocol/server-frame.js';

/** Turns an error frame's error into core's `HypervisorError` (an unknown code becomes `CONTROL`). */
export function wireToError(error: WireError): HypervisorError {
  const code = isErrorCode(error.code) && error.code < 0 ? error.code : -3;
  return new HypervisorError(code, String(error.message), { details: error.details ?? {} });
}
