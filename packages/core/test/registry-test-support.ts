import type { OwnerHash, SessionRecord } from '../src/registry/session-record.js';

/**
 * Test support for the registry's own tests: a well-formed owner hash (of no real secret) and a
 * record factory. Not exported from the package.
 *
 * @internal
 */
export const fakeOwner: OwnerHash = Object.freeze({
  algorithm: 'scrypt',
  salt: Buffer.alloc(16, 1).toString('base64'),
  hash: Buffer.alloc(32, 2).toString('base64'),
  N: 16,
  r: 1,
  p: 1,
});

/** A valid record with `id`, overridden by `fields`. @internal */
export function makeRecord(id: string, fields: Partial<SessionRecord> = {}): SessionRecord {
  return {
    id,
    scope: 'local',
    name: `name-${id}`,
    vmName: `cvmweb-${id}`,
    owner: fakeOwner,
    requirements: { cpus: 1, ram: 256, disk: 1024, version: '1.0' },
    properties: {},
    daemon: { controlled: false, minCap: 0, maxCap: 100, flags: 0 },
    executionCap: 100,
    state: 0,
    hibernated: false,
    stoppedByUser: false,
    createdAt: 1_000,
    updatedAt: 1_000,
    ...fields,
  };
}

/** The one version of record `id` with sequence number `seq` that the crash test's child writes. @internal */
export function crashVersion(id: string, seq: number): SessionRecord {
  return makeRecord(id, {
    updatedAt: seq,
    userData: `${id}:${seq}:`.padEnd(20_000, String(seq % 10)),
    properties: { seq: String(seq) },
  });
}
