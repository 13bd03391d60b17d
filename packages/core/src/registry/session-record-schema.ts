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

/**
 * Checks that `value` is a well-formed {@link SessionRecord} and returns it (same object).
 * Both registries call it on every `put` and the file registry on every record it loads.
 *
 * @throws HypervisorError `INVALID_USAGE` with `details.field` naming the first bad field
 *   (`record` when `value` is no object).
 */
export function validateSessionRecord(value: unknown): SessionRecord {
  const result = sessionRecordSchema.safeParse(value);
  if (result.success) return value as SessionRecord;
  const issue = result.error.issues[0];
  const field = typeof issue?.path[0] === 'string' ? issue.path[0] : 'record';
  const where = issue?.path.length ? issue.path.join('.') : 'record';
  throw new HypervisorError('INVALID_USAGE', `Invalid session record: ${where} ${issue?.message ?? ''}`, {
    details: { field },
  });
}
