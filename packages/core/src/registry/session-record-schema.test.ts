import { describe, expect, it } from 'vitest';
import { makeRecord } from '../../test/registry-test-support.js';
import { isOwnerHash } from './owner-secret.js';
import type { SessionRecord } from './session-record.js';
import { validateSessionRecord } from './session-record-schema.js';

function failure(value: unknown, reference?: SessionRecord): unknown {
  try {
    validateSessionRecord(value, reference);
  } catch (error) {
    return error;
  }
  throw new Error('the record was accepted');
}

describe('validateSessionRecord', () => {
  it('returns a valid record as it is, with optional fields present or absent', () => {
    const plain = makeRecord('a');
    expect(validateSessionRecord(plain)).toBe(plain);
    const full = makeRecord('b', {
      userData: 'x',
      vmId: 'vm-1',
      driver: 'mock',
      pending: { action: 'open', since: 5 },
    });
    expect(validateSessionRecord(full)).toBe(full);
  });

  it('rejects a value that is not an object with field "record"', () => {
    for (const bad of [null, 42, 'record', [makeRecord('a')]]) {
      expect(failure(bad)).toMatchObject({ codeName: 'INVALID_USAGE', details: { field: 'record' } });
    }
  });

  it('names the first bad field of a rejected record, nested fields by their top-level field', () => {
    const record = makeRecord('a');
    const cases: [string, Record<string, unknown>][] = [
      ['id', { id: '' }],
      ['id', { id: '-starts-with-dash' }],
      ['id', { id: 'a'.repeat(129) }],
      ['scope', { scope: '' }],
      ['name', { name: 7 }],
      ['vmName', { vmName: undefined }],
      ['owner', { owner: { ...record.owner, N: 3 } }],
      ['owner', { owner: { ...record.owner, salt: 'QUFB' } }], // 3 bytes: too short a salt
      ['owner', { owner: { ...record.owner, hash: 'not base64!' } }],
      ['requirements', { requirements: { ...record.requirements, cpus: 1.5 } }],
      ['requirements', { requirements: { ...record.requirements, version: 13 } }],
      ['userData', { userData: 5 }],
      ['properties', { properties: { a: 1 } }],
      ['properties', { properties: ['a'] }],
      ['daemon', { daemon: { ...record.daemon, controlled: 'yes' } }],
      ['daemon', { daemon: { ...record.daemon, flags: -1 } }],
      ['executionCap', { executionCap: 0 }],
      ['executionCap', { executionCap: 101 }],
      ['vmId', { vmId: '' }],
      ['driver', { driver: '' }],
      ['state', { state: 7 }],
      ['state', { state: '4' }],
      ['hibernated', { hibernated: 0 }],
      ['stoppedByUser', { stoppedByUser: undefined }],
      ['pending', { pending: { action: 'explode', since: 1 } }],
      ['pending', { pending: { action: 'open', since: -1 } }],
      ['createdAt', { createdAt: Number.POSITIVE_INFINITY }],
      ['updatedAt', { updatedAt: Number.NaN }],
      ['scope', { scope: '', name: '' }], // the first bad field in the record's order
    ];
    for (const [field, change] of cases) {
      const error = failure({ ...record, ...change });
      expect(error, `${field}: ${JSON.stringify(change)}`).toMatchObject({
        codeName: 'INVALID_USAGE',
        details: { field },
      });
      expect((error as Error).message).toContain(`Invalid session record: ${field}`);
      // Against a valid reference only the changed fields are checked, with the same verdict.
      const copy = JSON.parse(JSON.stringify(record)) as SessionRecord;
      const checked = failure({ ...record, ...change }, copy);
      expect(checked, `${field} with a reference`).toMatchObject({
        codeName: 'INVALID_USAGE',
        details: { field },
      });
      expect((checked as Error).message).toBe((error as Error).message);
    }
  });

  it('accepts a record that changes fields of a valid reference only when the changes are valid', () => {
    const reference = makeRecord('a');
    const next = { ...reference, state: 1, pending: { action: 'open', since: 9 }, updatedAt: 10 } as const;
    expect(validateSessionRecord(next, reference)).toBe(next);
    // Equal objects of the reference's are taken as they are; a changed or extra key is checked.
    const owner = { ...reference.owner };
    expect(validateSessionRecord({ ...reference, owner }, reference)).toBeTruthy();
    expect(failure({ ...reference, owner: { ...owner, N: 3 } }, reference)).toMatchObject({
      details: { field: 'owner' },
    });
    expect(failure({ ...reference, properties: { ...reference.properties, x: 1 } }, reference)).toMatchObject(
      {
        details: { field: 'properties' },
      },
    );
    for (const bad of [null, 42, [reference]]) {
      expect(failure(bad, reference)).toMatchObject({ details: { field: 'record' } });
    }
  });

  it('checks the owner hash with the same schema as isOwnerHash', () => {
    const { owner } = makeRecord('a');
    expect(isOwnerHash(owner)).toBe(true);
    expect(isOwnerHash({ ...owner, algorithm: 'argon2' })).toBe(false);
    expect(failure({ ...makeRecord('a'), owner: { ...owner, algorithm: 'argon2' } })).toMatchObject({
      details: { field: 'owner' },
    });
  });
});
