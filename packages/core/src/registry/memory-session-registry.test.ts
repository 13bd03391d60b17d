import { describe, expect, it } from 'vitest';
import { makeRecord } from '../../test/registry-test-support.js';
import { createMemorySessionRegistry } from './memory-session-registry.js';

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('createMemorySessionRegistry', () => {
  it('stores, finds by scope and name, renames and deletes', async () => {
    const registry = createMemorySessionRegistry();
    expect(registry.directory).toBeUndefined();
    await registry.put(makeRecord('a', { scope: 's', name: 'n' }));
    await registry.put(makeRecord('b', { scope: 's', name: 'm' }));
    expect(registry.find('s', 'n')?.id).toBe('a');
    expect(registry.list().map((r) => r.id)).toEqual(['a', 'b']);
    expect(await rejection(registry.put(makeRecord('c', { scope: 's', name: 'n' })))).toMatchObject({
      codeName: 'INVALID_USAGE',
      details: { field: 'name', existingId: 'a' },
    });
    await registry.put(makeRecord('a', { scope: 's', name: 'renamed' }));
    expect(registry.find('s', 'n')).toBeUndefined();
    expect(registry.find('s', 'renamed')?.id).toBe('a');
    await registry.delete('a');
    await registry.delete('unknown');
    expect(registry.get('a')).toBeUndefined();
    expect(registry.find('s', 'renamed')).toBeUndefined();
  });

  it('behaves like the file registry: validated, frozen JSON copies', async () => {
    const registry = createMemorySessionRegistry();
    expect(await rejection(registry.put(makeRecord('a', { executionCap: 0 })))).toMatchObject({
      codeName: 'INVALID_USAGE',
      details: { field: 'executionCap' },
    });
    const record = makeRecord('a', { userData: undefined, properties: { k: 'v' } });
    await registry.put(record);
    expect(registry.get('a')).not.toBe(record);
    expect(registry.get('a')).not.toHaveProperty('userData');
    expect(Object.isFrozen(registry.get('a')?.properties)).toBe(true);
  });

  it('rejects writes after close with INVALID_STATE', async () => {
    const registry = createMemorySessionRegistry();
    await registry.put(makeRecord('a'));
    await registry.close();
    expect(registry.get('a')?.id).toBe('a');
    expect(await rejection(registry.put(makeRecord('b')))).toMatchObject({ codeName: 'INVALID_STATE' });
    expect(await rejection(registry.delete('a'))).toMatchObject({ codeName: 'INVALID_STATE' });
  });

  it('holds 10,000 records with O(1) find', async () => {
    const registry = createMemorySessionRegistry();
    for (let i = 0; i < 10_000; i++) await registry.put(makeRecord(`id-${i}`, { name: `session-${i}` }));
    expect(registry.list()).toHaveLength(10_000);
    const started = performance.now();
    for (let i = 0; i < 10_000; i++) expect(registry.find('local', `session-${i}`)?.id).toBe(`id-${i}`);
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});
