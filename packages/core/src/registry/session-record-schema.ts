import * as z from 'zod';
import { HypervisorError } from '../errors/hypervisor-error.js';
import { sessionActions } from '../state/action-table.js';
import { isSessionState, type SessionStateValue } from '../state/session-state.js';
import type { OwnerHash, SessionRecord } from './session-record.js';

/**
 * The form of a session id the registries accept: 1–128 characters of `[A-Za-z0-9_-]`, starting
 * with a letter or digit (a UUID qualifies). It is also the record's file name, so nothing else is allowed.
 */
export const SESSION_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Bytes that a base64 text (matching {@link BASE64}) decodes to, as `Buffer.from(text, 'base64')` reads it. */
function base64Bytes(text: string): number {
  return Math.floor((text.replace(/=+$/, '').length * 6) / 8);
}

const base64Of = (min: number, max: number) =>
  z
    .string()
    .regex(BASE64, { error: 'must be base64' })
    .refine((text) => base64Bytes(text) >= min && base64Bytes(text) <= max, {
      error: `must decode to ${min}–${max} bytes`,
    });

const count = z.number().int().min(0);
const time = z.number().min(0);

/** scrypt cost parameters: N a power of two 2–2^20, r 1–32, p 1–16. */
export const scryptCostSchema = z.object({
  N: z
    .number()
    .int()
    .min(2)
    .max(2 ** 20)
    .refine((n) => (n & (n - 1)) === 0, { error: 'must be a power of two' }),
  r: z.number().int().min(1).max(32),
  p: z.number().int().min(1).max(16),
});

/** The stored salted hash of a session's secret key ({@link OwnerHash}). */
export const ownerHashSchema = z.object({
  algorithm: z.literal('scrypt'),
  salt: base64Of(8, 64),
  hash: base64Of(16, 64),
  ...scryptCostSchema.shape,
});

/** A persisted session ({@link SessionRecord}): what both registries accept and the file registry loads. */
export const sessionRecordSchema = z.object({
  id: z.string().regex(SESSION_ID_PATTERN, { error: 'must match [A-Za-z0-9][A-Za-z0-9_-]{0,127}' }),
  scope: z.string().min(1),
  name: z.string().min(1),
  vmName: z.string(),
  owner: ownerHashSchema,
  requirements: z.object({ cpus: count, ram: count, disk: count, version: z.string() }),
  userData: z.string().optional(),
  properties: z.record(z.string(), z.string()),
  daemon: z.object({ controlled: z.boolean(), minCap: count, maxCap: count, flags: count }),
  executionCap: z.number().int().min(1).max(100),
  vmId: z.string().min(1).optional(),
  driver: z.string().min(1).optional(),
  state: z.custom<SessionStateValue>(isSessionState, { error: 'must be a session state 0–6' }),
  hibernated: z.boolean(),
  stoppedByUser: z.boolean(),
  pending: z.object({ action: z.enum(sessionActions), since: time }).optional(),
  createdAt: time,
  updatedAt: time,
});

/** True when A and B are assignable to each other: the schemas and the documented interfaces agree. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const schemasMatchTypes: [
  Same<z.infer<typeof sessionRecordSchema>, SessionRecord>,
  Same<z.infer<typeof ownerHashSchema>, OwnerHash>,
] = [true, true];
void schemasMatchTypes;

/** The record's fields with their schemas, in the record's order (the order of the whole check). */
const fields = Object.entries(sessionRecordSchema.shape) as [string, z.ZodType][];

/**
 * Checks that `value` is a well-formed {@link SessionRecord} and returns it (same object).
 * Both registries call it on every `put` and the file registry on every record it loads.
 *
 * `reference` is a record that passed this check and cannot have changed since (a registry's
 * frozen copy, usually the one `value` replaces): a field of `value` equal to the reference's
 * field is valid already and is not checked again, so a `put` that changes two fields checks
 * two fields. Each field's validity depends on that field alone (the schema has no check across
 * fields), so the outcome, the field named and the message are those of the whole check.
 *
 * @throws HypervisorError `INVALID_USAGE` with `details.field` naming the first bad field
 *   (`record` when `value` is no object).
 */
export function validateSessionRecord(value: unknown, reference?: SessionRecord): SessionRecord {
  if (reference === undefined || !isPlainObject(value)) {
    const result = sessionRecordSchema.safeParse(value);
    if (!result.success) throw invalidRecord(result.error.issues[0]);
    return value as SessionRecord;
  }
  const known = reference as unknown as Record<string, unknown>;
  for (const [key, schema] of fields) {
    const field = value[key];
    if (sameValid(field, known[key])) continue;
    const result = schema.safeParse(field);
    if (!result.success) {
      const issue = result.error.issues[0];
      throw invalidRecord(issue && { ...issue, path: [key, ...issue.path] });
    }
  }
  return value as unknown as SessionRecord;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

/**
 * True when `field` holds what the valid `known` holds, as the schema reads it: the same value,
 * or a plain object with exactly the own keys of `known`'s object and the same primitive values
 * (the record's objects are flat: owner, requirements, properties, daemon, pending).
 */
function sameValid(field: unknown, known: unknown): boolean {
  if (Object.is(field, known)) return true;
  if (!isPlainObject(field) || !isPlainObject(known)) return false;
  const keys = Reflect.ownKeys(known);
  if (Reflect.ownKeys(field).length !== keys.length) return false;
  for (const key of keys) {
    const inner = known[key as string];
    if (typeof inner === 'object' && inner !== null) return false;
    if (!Object.hasOwn(field, key) || !Object.is(field[key as string], inner)) return false;
  }
  return true;
}

function invalidRecord(issue: z.core.$ZodIssue | undefined): HypervisorError {
  const field = typeof issue?.path[0] === 'string' ? issue.path[0] : 'record';
  const where = issue?.path.length ? issue.path.join('.') : 'record';
  return new HypervisorError('INVALID_USAGE', `Invalid session record: ${where} ${issue?.message ?? ''}`, {
    details: { field },
  });
}
