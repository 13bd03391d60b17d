import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';
import type { ActionOptions } from '../action-options.js';
import { abortedError, HypervisorError } from '../errors/hypervisor-error.js';
import type { OwnerHash } from './session-record.js';
import { ownerHashSchema, scryptCostSchema } from './session-record-schema.js';

/** The scrypt cost parameters of an {@link OwnerHash}. */
export interface ScryptCost {
  /** CPU/memory cost N: a power of two, 2–2^20. */
  readonly N: number;
  /** Block size r, 1–32. */
  readonly r: number;
  /** Parallelism p, 1–16. */
  readonly p: number;
}

/**
 * The production cost: N = 2^14, r = 8, p = 1 (16 MiB, tens of milliseconds per hash).
 * Use it for every session a person owns.
 */
export const DEFAULT_SCRYPT_COST: ScryptCost = Object.freeze({ N: 2 ** 14, r: 8, p: 1 });

/**
 * A deliberately cheap cost (N = 2^4, r = 1, p = 1: microseconds per hash) for applications'
 * tests and benchmarks that create thousands of sessions. It offers no protection against
 * guessing: never use it for sessions people own.
 */
export const TEST_SCRYPT_COST: ScryptCost = Object.freeze({ N: 2 ** 4, r: 1, p: 1 });

/** Length of the random per-session salt, bytes. */
const SALT_BYTES = 16;
/** Length of the derived key, bytes. */
const KEY_BYTES = 32;
/** Shortest and longest accepted secret key, in UTF-16 code units (`string.length`). */
const MIN_SECRET = 1;
const MAX_SECRET = 256;

/**
 * Hashes a session's secret key with scrypt (node:crypto, asynchronous), a fresh random
 * 16-byte salt and a 32-byte derived key. The secret itself is never stored.
 *
 * @param secret - The owner's secret key: a string of 1–256 characters (UTF-16 code units).
 * @param cost - The scrypt cost; {@link DEFAULT_SCRYPT_COST} unless tests or benchmarks need
 *   {@link TEST_SCRYPT_COST} or another lower cost.
 * @param options - `signal` cancels the call before the hash starts (scrypt itself cannot be interrupted).
 * @returns The salted hash to store in the session record.
 * @throws HypervisorError `INVALID_USAGE` (details `{ field: 'secretKey' }`) for a bad secret,
 *   `INVALID_USAGE` (details `{ field: 'cost' }`) for a bad cost, `CONTROL` (aborted) when aborted.
 *
 * @example
 * ```ts
 * const owner = await hashSecret(secretKey);
 * if (!(await verifySecret(candidate, owner))) throw new HypervisorError('PASSWORD_DENIED', 'Wrong key');
 * ```
 */
export async function hashSecret(
  secret: string,
  cost: ScryptCost = DEFAULT_SCRYPT_COST,
  options?: ActionOptions,
): Promise<OwnerHash> {
  checkSecret(secret);
  checkCost(cost, 'cost');
  if (options?.signal?.aborted) throw abortedError('Hashing the secret key', options.signal.reason);
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(secret, salt, KEY_BYTES, cost);
  return Object.freeze({
    algorithm: 'scrypt',
    salt: salt.toString('base64'),
    hash: key.toString('base64'),
    N: cost.N,
    r: cost.r,
    p: cost.p,
  });
}

/**
 * Checks `secret` against a stored {@link OwnerHash}, comparing the derived keys with
 * `crypto.timingSafeEqual` (constant time).
 *
 * @param secret - The candidate secret key (1–256 characters).
 * @param owner - The stored hash.
 * @param options - `signal` cancels the call before the hash starts.
 * @returns `true` when the secret matches.
 * @throws HypervisorError `INVALID_USAGE` for a malformed secret (details `{ field: 'secretKey' }`)
 *   or a malformed hash (details `{ field: 'owner' }`); `CONTROL` (aborted) when aborted.
 */
export async function verifySecret(
  secret: string,
  owner: OwnerHash,
  options?: ActionOptions,
): Promise<boolean> {
  checkSecret(secret);
  const { salt, expected } = checkOwner(owner);
  if (options?.signal?.aborted) throw abortedError('Verifying the secret key', options.signal.reason);
  const key = await derive(secret, salt, expected.length, owner);
  return timingSafeEqual(key, expected);
}

/**
 * True when `value` has the form of an {@link OwnerHash} (algorithm, base64 salt and hash,
 * valid cost). Used when loading records.
 */
export function isOwnerHash(value: unknown): value is OwnerHash {
  return ownerHashSchema.safeParse(value).success;
}

function checkSecret(secret: unknown): asserts secret is string {
  if (typeof secret !== 'string' || secret.length < MIN_SECRET || secret.length > MAX_SECRET) {
    const what = typeof secret === 'string' ? `${secret.length} characters long` : `a ${typeof secret}`;
    throw new HypervisorError(
      'INVALID_USAGE',
      `The secret key must be a string of ${MIN_SECRET}–${MAX_SECRET} characters, not ${what}`,
      { details: { field: 'secretKey' } },
    );
  }
}

function checkCost(cost: unknown, field: string): asserts cost is ScryptCost {
  if (!scryptCostSchema.safeParse(cost).success) {
    throw new HypervisorError(
      'INVALID_USAGE',
      'The scrypt cost must have N a power of two (2–2^20), r 1–32 and p 1–16',
      { details: { field } },
    );
  }
}

function checkOwner(owner: OwnerHash): { salt: Buffer; expected: Buffer } {
  const result = ownerHashSchema.safeParse(owner);
  if (!result.success) {
    const issue = result.error.issues[0];
    const why = `${issue?.path.join('.') || 'owner'} ${issue?.message ?? ''}`;
    throw new HypervisorError('INVALID_USAGE', `The stored owner hash is malformed: ${why}`, {
      details: { field: 'owner' },
    });
  }
  return { salt: Buffer.from(owner.salt, 'base64'), expected: Buffer.from(owner.hash, 'base64') };
}

function derive(secret: string, salt: Buffer, length: number, cost: ScryptCost): Promise<Buffer> {
  // scrypt needs 128·N·r bytes; leave headroom above Node's 32 MiB default for large costs.
  const options: ScryptOptions = {
    N: cost.N,
    r: cost.r,
    p: cost.p,
    maxmem: 256 * cost.N * cost.r + 1024 * 1024,
  };
  return new Promise((resolve, reject) => {
    scrypt(Buffer.from(secret, 'utf8'), salt, length, options, (error, key) => {
      if (error) reject(new HypervisorError('EXTERNAL', `scrypt failed: ${error.message}`, { cause: error }));
      else resolve(key);
    });
  });
}
