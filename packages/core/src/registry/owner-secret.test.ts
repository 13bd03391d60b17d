import * as crypto from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { isHypervisorError } from '../errors/hypervisor-error.js';
import {
  DEFAULT_SCRYPT_COST,
  hashSecret,
  isOwnerHash,
  TEST_SCRYPT_COST,
  verifySecret,
} from './owner-secret.js';

vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('hashSecret / verifySecret', () => {
  it('hashes with the default cost, a 16-byte salt and a 32-byte key, never storing the secret', async () => {
    const owner = await hashSecret('correct horse');
    expect(owner).toMatchObject({ algorithm: 'scrypt', N: 2 ** 14, r: 8, p: 1 });
    expect(DEFAULT_SCRYPT_COST).toEqual({ N: 16384, r: 8, p: 1 });
    expect(Buffer.from(owner.salt, 'base64')).toHaveLength(16);
    expect(Buffer.from(owner.hash, 'base64')).toHaveLength(32);
    expect(JSON.stringify(owner)).not.toContain('correct horse');
    expect(isOwnerHash(owner)).toBe(true);
    expect(await verifySecret('correct horse', owner)).toBe(true);
  });

  it('accepts the right key and refuses a wrong one, comparing with timingSafeEqual', async () => {
    const owner = await hashSecret('s3cret', TEST_SCRYPT_COST);
    expect(owner).toMatchObject(TEST_SCRYPT_COST);
    const spy = vi.mocked(crypto.timingSafeEqual);
    spy.mockClear();
    expect(await verifySecret('s3cret', owner)).toBe(true);
    expect(await verifySecret('s3creT', owner)).toBe(false);
    expect(await verifySecret('s3cret ', owner)).toBe(false);
    expect(spy).toHaveBeenCalledTimes(3);
    const [a, b] = spy.mock.calls[0] as [Buffer, Buffer];
    expect(a).toHaveLength(32);
    expect(b).toHaveLength(32);
  });

  it('uses a fresh salt per call', async () => {
    const a = await hashSecret('same', TEST_SCRYPT_COST);
    const b = await hashSecret('same', TEST_SCRYPT_COST);
    expect(a.salt).not.toBe(b.salt);
    expect(a.hash).not.toBe(b.hash);
    expect(await verifySecret('same', a)).toBe(true);
    expect(await verifySecret('same', b)).toBe(true);
  });

  it('handles non-ASCII secrets and the length limits', async () => {
    const owner = await hashSecret('päßwörd🔑', TEST_SCRYPT_COST);
    expect(await verifySecret('päßwörd🔑', owner)).toBe(true);
    expect(await verifySecret('passwörd🔑', owner)).toBe(false);
    const long = 'x'.repeat(256);
    expect(await verifySecret(long, await hashSecret(long, TEST_SCRYPT_COST))).toBe(true);
    expect(await verifySecret('x', await hashSecret('x', TEST_SCRYPT_COST))).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['too long', 'x'.repeat(257)],
    ['not a string', 42],
    ['undefined', undefined],
  ])('rejects a bad secret (%s) with INVALID_USAGE', async (_, secret) => {
    const owner = await hashSecret('ok', TEST_SCRYPT_COST);
    for (const call of [
      () => hashSecret(secret as string, TEST_SCRYPT_COST),
      () => verifySecret(secret as string, owner),
    ]) {
      const error = await rejection(call());
      expect(isHypervisorError(error)).toBe(true);
      expect(error).toMatchObject({ codeName: 'INVALID_USAGE', details: { field: 'secretKey' } });
    }
  });

  it('rejects a bad cost and a malformed stored hash with INVALID_USAGE', async () => {
    expect(await rejection(hashSecret('k', { N: 1000, r: 1, p: 1 }))).toMatchObject({
      codeName: 'INVALID_USAGE',
      details: { field: 'cost' },
    });
    const owner = await hashSecret('k', TEST_SCRYPT_COST);
    for (const bad of [
      { ...owner, algorithm: 'md5' },
      { ...owner, hash: 'not base64!' },
      { ...owner, salt: '' },
      { ...owner, N: 3 },
    ]) {
      expect(isOwnerHash(bad)).toBe(false);
      expect(await rejection(verifySecret('k', bad as typeof owner))).toMatchObject({
        codeName: 'INVALID_USAGE',
        details: { field: 'owner' },
      });
    }
  });

  it('rejects an aborted call before hashing', async () => {
    const controller = new AbortController();
    controller.abort();
    const error = await rejection(hashSecret('k', TEST_SCRYPT_COST, { signal: controller.signal }));
    expect(error).toMatchObject({ codeName: 'CONTROL', aborted: true });
  });
});
