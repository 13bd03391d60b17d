import {
  ErrorCode,
  type ErrorCodeName,
  ErrorCodeNames,
  type ErrorCodeValue,
  isErrorCode,
} from './error-code.js';

const brand = Symbol.for('@cvmweb/core/HypervisorError');

/** Structured facts about a failure: the command that ran, the field that was wrong, the state, … */
export type ErrorDetails = Readonly<Record<string, unknown>>;

/** Options of the {@link HypervisorError} constructor. */
export interface HypervisorErrorOptions {
  /** The original failure (a child-process error, a file-system error, …). */
  cause?: unknown;
  /** Structured facts for programs; never parse the message instead. */
  details?: ErrorDetails;
  /** True when the action was cancelled through an `AbortSignal`. */
  aborted?: boolean;
}

/**
 * The one error class of cvmweb. Every public asynchronous failure of every
 * package rejects with it; nothing rejects with a bare string.
 *
 * Programs branch on {@link HypervisorError.code} (or {@link HypervisorError.codeName}) and read
 * {@link HypervisorError.details}; the message is for people. Use
 * {@link isHypervisorError} rather than `instanceof`: it also recognises errors
 * made by another copy of this package (two versions in one tree, another realm).
 *
 * @example
 * ```ts
 * try { await session.start(userData); }
 * catch (error) {
 *   if (isHypervisorError(error) && error.code === ErrorCode.INVALID_STATE) { … }
 * }
 * ```
 */
export class HypervisorError extends Error {
  /** The numeric code of the original plugin's error codes (always negative for a failure). */
  readonly code: ErrorCodeValue;
  /** The symbolic name of {@link HypervisorError.code}, such as `'NOT_FOUND'`. */
  readonly codeName: ErrorCodeName;
  /** Structured facts about the failure (frozen). */
  readonly details: ErrorDetails;
  /** True when the action was cancelled through its `AbortSignal`. */
  readonly aborted: boolean;
  /** Marks errors of any copy of the package, so {@link isHypervisorError} knows them. */
  declare readonly [brand]: true;

  constructor(code: ErrorCodeValue | ErrorCodeName, message: string, options: HypervisorErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    const numeric = typeof code === 'number' ? code : ErrorCode[code];
    if (!isErrorCode(numeric)) throw new TypeError(`Unknown cvmweb error code ${String(code)}`);
    this.name = 'HypervisorError';
    this.code = numeric;
    this.codeName = ErrorCodeNames[numeric];
    this.details = Object.freeze({ ...(options.details ?? {}) });
    this.aborted = options.aborted ?? false;
    Object.defineProperty(this, brand, { value: true });
  }

  /** A plain object for logs and protocol frames: code, name, message, details (no stack). */
  toJSON(): {
    /** The numeric code, as {@link HypervisorError.code}. */
    code: ErrorCodeValue;
    /** The code's name, as {@link HypervisorError.codeName}. */
    codeName: ErrorCodeName;
    /** What went wrong, in one sentence. */
    message: string;
    /** The structured facts, as {@link HypervisorError.details}. */
    details: ErrorDetails;
  } {
    return { code: this.code, codeName: this.codeName, message: this.message, details: this.details };
  }
}

/** True when `value` is a {@link HypervisorError}, from this or any other copy of the package. */
export function isHypervisorError(value: unknown): value is HypervisorError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
}

/**
 * Returns `error` when it is already a {@link HypervisorError}; otherwise wraps
 * it with `code` and `message`, keeping it as `cause`. An `AbortError` becomes
 * an aborted `CONTROL` error.
 */
export function toHypervisorError(
  error: unknown,
  code: ErrorCodeValue | ErrorCodeName,
  message: string,
  details?: ErrorDetails,
): HypervisorError {
  if (isHypervisorError(error)) return error;
  if (isAbortError(error)) {
    return new HypervisorError('CONTROL', `${message}: aborted`, { cause: error, details, aborted: true });
  }
  const reason = error instanceof Error ? error.message : String(error);
  return new HypervisorError(code, `${message}: ${reason}`, { cause: error, details });
}

/** An error meaning "aborted by the caller's signal" (the `reason` of an aborted signal). */
export function abortedError(what: string, reason?: unknown): HypervisorError {
  return new HypervisorError('CONTROL', `${what} was aborted`, { cause: reason, aborted: true });
}

function isAbortError(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError');
}
