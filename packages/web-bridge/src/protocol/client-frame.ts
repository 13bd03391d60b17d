import { HypervisorError } from '@cvmweb/core';
import * as z from 'zod';
import { PROTOCOL_VERSION } from './protocol-version.js';
import { forPages } from './wire-error.js';

const id = z.number().int().min(0).max(2_147_483_647);
const text = (max: number) => z.string().max(max);
const sessionId = text(64).min(1);
const head = { v: z.literal(PROTOCOL_VERSION), id };
const sessionHead = { ...head, session: sessionId };

const requirements = z.strictObject({
  cpus: z.number().optional(),
  ram: z.number().optional(),
  disk: z.number().optional(),
  version: text(64).optional(),
});

const daemonSettings = z.strictObject({
  controlled: z.boolean().optional(),
  minCap: z.number().optional(),
  maxCap: z.number().optional(),
  flags: z.number().optional(),
});

const simple = <T extends string>(op: T) => z.strictObject({ ...sessionHead, op: z.literal(op) });

/** The session actions a frame may name, beside `open`, `start` and the property and daemon setters. */
export const simpleSessionOps = [
  'pause',
  'resume',
  'reset',
  'stop',
  'hibernate',
  'close',
  'release',
] as const;

/**
 * The schema of every frame a client may send (see docs/protocol.md). Objects
 * are strict: an unknown field is refused, so a typo never goes unnoticed.
 */
export const clientFrameSchema = z.discriminatedUnion('op', [
  z.strictObject({ ...head, op: z.literal('ping') }),
  z.strictObject({ ...head, op: z.literal('requestSession'), name: text(256), key: text(1024) }),
  z.strictObject({ ...sessionHead, op: z.literal('open'), requirements: requirements.optional() }),
  z.strictObject({
    ...sessionHead,
    op: z.literal('start'),
    userData: z.string().optional(),
    values: z.record(text(128), text(4096)).optional(),
  }),
  simple('pause'),
  simple('resume'),
  simple('reset'),
  simple('stop'),
  simple('hibernate'),
  simple('close'),
  simple('release'),
  z.strictObject({ ...sessionHead, op: z.literal('setExecutionCap'), cap: z.number() }),
  z.strictObject({ ...sessionHead, op: z.literal('setProperty'), name: text(1024), value: z.string() }),
  z.strictObject({ ...sessionHead, op: z.literal('getProperty'), name: text(1024) }),
  z.strictObject({ ...sessionHead, op: z.literal('setDaemon'), settings: daemonSettings }),
  z.strictObject({ ...head, op: z.literal('requestDaemonAccess') }),
  z.strictObject({
    ...head,
    op: z.literal('daemon'),
    action: z.enum(['start', 'stop', 'setIdleTime']),
    seconds: z.number().optional(),
  }),
  z.strictObject({ ...head, op: z.literal('listSessions') }),
  simple('console'),
  z.strictObject({
    ...head,
    op: z.literal('timeline'),
    since: z.number().optional(),
    subscribe: z.boolean().optional(),
  }),
]);

/** A frame a client sent, validated. */
export type ClientFrame = z.infer<typeof clientFrameSchema>;

/** The `op` of a client frame. */
export type ClientOp = ClientFrame['op'];

/** The outcome of {@link parseClientFrame}: the frame, or the error to answer with (and the id, when readable). */
export type ParsedFrame =
  | { readonly ok: true; readonly frame: ClientFrame }
  | { readonly ok: false; readonly id: number | null; readonly error: HypervisorError };

/**
 * Parses and validates one text frame. Never throws: a frame that is not JSON,
 * has the wrong protocol version or does not match {@link clientFrameSchema}
 * gives an `INVALID_USAGE` (-99) error whose details name the problems.
 */
export function parseClientFrame(raw: string): ParsedFrame {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { ok: false, id: null, error: usage('the frame is not JSON', { reason: 'json' }) };
  }
  const frameId = readId(value);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, id: frameId, error: usage('a frame is a JSON object', { reason: 'shape' }) };
  }
  const version = (value as Record<string, unknown>)['v'];
  if (version !== PROTOCOL_VERSION) {
    return {
      ok: false,
      id: frameId,
      error: usage(`this service speaks protocol version ${PROTOCOL_VERSION}`, {
        reason: 'version',
        supported: [PROTOCOL_VERSION],
      }),
    };
  }
  const result = clientFrameSchema.safeParse(value);
  if (!result.success) {
    const issues = result.error.issues.slice(0, 5).map((issue) => ({
      path: issue.path.map(String).join('.').slice(0, 100),
      message: issue.message.slice(0, 200),
    }));
    return {
      ok: false,
      id: frameId,
      error: usage('the frame does not match the protocol', { reason: 'schema', issues }),
    };
  }
  return { ok: true, frame: result.data };
}

function readId(value: unknown): number | null {
  if (typeof value !== 'object' || value === null) return null;
  const candidate = (value as Record<string, unknown>)['id'];
  return id.safeParse(candidate).success ? (candidate as number) : null;
}

function usage(message: string, details: Record<string, unknown>): HypervisorError {
  return forPages(new HypervisorError('INVALID_USAGE', message, { details }));
}
