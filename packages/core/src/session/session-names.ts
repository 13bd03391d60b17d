import { createHash } from 'node:crypto';
import { HypervisorError } from '../errors/hypervisor-error.js';

/** Longest user-facing session name, in characters. */
export const maxSessionNameLength = 128;

/** Longest property key and value, and most properties per session. */
export const propertyLimits = Object.freeze({
  /** The longest property name, in characters. */
  keyLength: 128,
  /** The longest value, in characters. */
  valueLength: 16 * 1024,
  /** The most properties one session holds. */
  count: 128,
});

// Printable: no C0/C1 control characters, no lone surrogates, no line or paragraph separators.
const unprintable = /[\p{Cc}\p{Cs}\u2028\u2029]/u;

/**
 * Validates a user-facing session name: any printable string of 1 to
 * {@link maxSessionNameLength} characters. Refusals are `INVALID_USAGE` naming field `name`.
 */
export function validateSessionName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || [...name].length > maxSessionNameLength) {
    throw new HypervisorError(
      'INVALID_USAGE',
      `a session name is a string of 1 to ${maxSessionNameLength} characters`,
      {
        details: { field: 'name' },
      },
    );
  }
  if (unprintable.test(name)) {
    throw new HypervisorError('INVALID_USAGE', 'a session name may not contain control characters', {
      details: { field: 'name' },
    });
  }
  return name;
}

/**
 * Derives the hypervisor-side VM name of a session: `cvmweb-`, up to 32 safe
 * characters of the name (lower-case letters, digits, `-`), and 12 hex digits
 * of a SHA-256 over scope, name and `sessionId`. The result matches
 * `^cvmweb-[a-z0-9-]*[0-9a-f]{12}$`, is at most 52 characters, and is the only
 * form of a page's session name that ever reaches a command line or an XML
 * document. Mixing in the session id means a VM left over from an earlier
 * session of the same name (a crash, another state directory) never collides.
 */
export function deriveVmName(scope: string, name: string, sessionId = ''): string {
  const slug = name
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 32)
    .replace(/-+$/, '');
  const digest = createHash('sha256')
    .update(scope)
    .update('\0')
    .update(name)
    .update('\0')
    .update(sessionId)
    .digest('hex')
    .slice(0, 12);
  return slug ? `cvmweb-${slug}-${digest}` : `cvmweb-${digest}`;
}

/** Validates a property key: 1–128 of `A-Z a-z 0-9 _ . -`. */
export function validatePropertyKey(key: unknown): string {
  if (typeof key !== 'string' || !/^[A-Za-z0-9_.-]{1,128}$/.test(key)) {
    throw new HypervisorError('INVALID_USAGE', 'a property name is 1–128 letters, digits, "_", "." or "-"', {
      details: { field: 'propertyName' },
    });
  }
  return key;
}

/** Validates a property value: a string of at most 16 KiB characters. */
export function validatePropertyValue(value: unknown): string {
  if (typeof value !== 'string' || value.length > propertyLimits.valueLength) {
    throw new HypervisorError(
      'INVALID_USAGE',
      `a property value is a string of at most ${propertyLimits.valueLength} characters`,
      { details: { field: 'propertyValue' } },
    );
  }
  return value;
}
