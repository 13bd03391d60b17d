/**
 * The numeric result codes of the CVMWeb plugin API (the original plugin's error codes), plus
 * `ALREADY_EXISTS` (2) and `STILL_WORKING` (-14) from the original code.
 *
 * Positive values and zero are not failures: `SCHEDULED` (1) means "accepted,
 * outcome not known yet" and `OK` (0) means success. Every negative value is a
 * failure category; a {@link HypervisorError} always carries one of them.
 *
 * The numbers are a public contract shared with web pages written for the
 * original plugin: they never change.
 */
export const ErrorCode = {
  /** The request was accepted; the outcome is reported later (original plugin: 1). */
  SCHEDULED: 1,
  /** Success (original plugin: 0). */
  OK: 0,
  /** The thing being created exists already (original code: 2). */
  ALREADY_EXISTS: 2,
  /** Creating a VM, disk or other resource failed (-1). */
  CREATE: -1,
  /** Modifying a VM's settings failed (-2). */
  MODIFY: -2,
  /** Controlling a VM (start, pause, stop, …) failed (-3). Also used for aborted actions. */
  CONTROL: -3,
  /** Deleting a VM or resource failed (-4). */
  DELETE: -4,
  /** Querying the hypervisor failed (-5). */
  QUERY: -5,
  /** A file or network I/O operation failed (-6). */
  IO: -6,
  /** An external program, library or server failed (-7). */
  EXTERNAL: -7,
  /** The action is not valid in the session's current state (-8). */
  INVALID_STATE: -8,
  /** The session, VM, image or property does not exist (-9). */
  NOT_FOUND: -9,
  /** The caller may not do this (-10). */
  NOT_ALLOWED: -10,
  /** The hypervisor driver lacks the capability (-11). */
  NOT_SUPPORTED: -11,
  /** A checksum or validation failed (-12). */
  NOT_VALIDATED: -12,
  /** The source is not trusted (-13). */
  NOT_TRUSTED: -13,
  /** Another action is still running on this session (original code: -14). */
  STILL_WORKING: -14,
  /** The secret key does not match the session's owner (-20). */
  PASSWORD_DENIED: -20,
  /** The arguments are wrong: type, range or form (-99). */
  INVALID_USAGE: -99,
  /** The function exists in the contract but is not implemented (-100). */
  NOT_IMPLEMENTED: -100,
} as const;

/** The symbolic name of a code, such as `'INVALID_STATE'`. */
export type ErrorCodeName = keyof typeof ErrorCode;

/** One of the numeric codes of {@link ErrorCode}. */
export type ErrorCodeValue = (typeof ErrorCode)[ErrorCodeName];

/** The inverse of {@link ErrorCode}: numeric code → symbolic name. */
export const ErrorCodeNames: Readonly<Record<ErrorCodeValue, ErrorCodeName>> = Object.freeze(
  Object.fromEntries(Object.entries(ErrorCode).map(([name, code]) => [code, name])) as Record<
    ErrorCodeValue,
    ErrorCodeName
  >,
);

/** True when `code` is one of the numbers of {@link ErrorCode}. */
export function isErrorCode(code: unknown): code is ErrorCodeValue {
  return typeof code === 'number' && Object.hasOwn(ErrorCodeNames, code);
}

/** The symbolic name of a numeric code, or `undefined` for a number that is not a code. */
export function errorCodeName(code: number): ErrorCodeName | undefined {
  return isErrorCode(code) ? ErrorCodeNames[code] : undefined;
}
