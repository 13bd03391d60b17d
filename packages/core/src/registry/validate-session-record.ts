import { HypervisorError } from '../errors/hypervisor-error.js';
import { actionTable, type SessionAction } from '../state/action-table.js';
import { isSessionState } from '../state/session-state.js';
import { isOwnerHash } from './owner-secret.js';
import type { SessionRecord } from './session-record.js';

/**
 * The form of a session id the registries accept: 1–128 characters of `[A-Za-z0-9_-]`, starting
 * with a letter or digit (a UUID qualifies). It is also the record's file name, so nothing else is allowed.
 */
export const SESSION_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

/**
 * Checks that `value` is a well-formed {@link SessionRecord} and returns it (same object).
 * Both registries call it on every `put` and the file registry on every record it loads.
 *
 * @throws HypervisorError `INVALID_USAGE` with `details.field` naming the first bad field.
 */
export function validateSessionRecord(value: unknown): SessionRecord {
  const bad = (field: string, why: string): never => {
    throw new HypervisorError('INVALID_USAGE', `Invalid session record: ${field} ${why}`, {
      details: { field },
    });
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return bad('record', 'is not an object');
  const r = value as Record<string, unknown>;
  if (typeof r.id !== 'string' || !SESSION_ID_PATTERN.test(r.id))
    bad('id', 'must match [A-Za-z0-9][A-Za-z0-9_-]{0,127}');
  if (typeof r.scope !== 'string' || r.scope.length === 0) bad('scope', 'must be a non-empty string');
  if (typeof r.name !== 'string' || r.name.length === 0) bad('name', 'must be a non-empty string');
  if (typeof r.vmName !== 'string') bad('vmName', 'must be a string');
  if (!isOwnerHash(r.owner)) bad('owner', 'must be an scrypt owner hash');
  const req = r.requirements as Record<string, unknown> | null;
  if (
    typeof req !== 'object' ||
    req === null ||
    !isCount(req.cpus) ||
    !isCount(req.ram) ||
    !isCount(req.disk) ||
    typeof req.version !== 'string'
  ) {
    bad('requirements', 'must have numeric cpus, ram, disk and a string version');
  }
  if (r.userData !== undefined && typeof r.userData !== 'string') bad('userData', 'must be a string');
  if (!isStringRecord(r.properties)) bad('properties', 'must map strings to strings');
  const d = r.daemon as Record<string, unknown> | null;
  if (
    typeof d !== 'object' ||
    d === null ||
    typeof d.controlled !== 'boolean' ||
    !isCount(d.minCap) ||
    !isCount(d.maxCap) ||
    !isCount(d.flags)
  ) {
    bad('daemon', 'must have a boolean controlled and numeric minCap, maxCap and flags');
  }
  if (!isCount(r.executionCap) || (r.executionCap as number) < 1 || (r.executionCap as number) > 100) {
    bad('executionCap', 'must be an integer 1–100');
  }
  if (r.vmId !== undefined && (typeof r.vmId !== 'string' || r.vmId.length === 0))
    bad('vmId', 'must be a string');
  if (r.driver !== undefined && (typeof r.driver !== 'string' || r.driver.length === 0)) {
    bad('driver', 'must be a string');
  }
  if (!isSessionState(r.state)) bad('state', 'must be a session state 0–6');
  if (typeof r.hibernated !== 'boolean') bad('hibernated', 'must be a boolean');
  if (typeof r.stoppedByUser !== 'boolean') bad('stoppedByUser', 'must be a boolean');
  if (r.pending !== undefined) {
    const p = r.pending as Record<string, unknown> | null;
    if (
      typeof p !== 'object' ||
      p === null ||
      typeof p.action !== 'string' ||
      !Object.hasOwn(actionTable, p.action as SessionAction) ||
      !isTime(p.since)
    ) {
      bad('pending', 'must be { action, since }');
    }
  }
  if (!isTime(r.createdAt)) bad('createdAt', 'must be a time in ms');
  if (!isTime(r.updatedAt)) bad('updatedAt', 'must be a time in ms');
  return value as SessionRecord;
}

function isCount(value: unknown): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}

function isTime(value: unknown): boolean {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

function isStringRecord(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  for (const v of Object.values(value)) if (typeof v !== 'string') return false;
  return true;
}
