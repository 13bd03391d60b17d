import { describe, expect, it } from 'vitest';
import { isHypervisorError } from '../errors/hypervisor-error.js';
import {
  defaultRequirements,
  executionCapLimits,
  requirementLimits,
  validateExecutionCap,
  validateRequirements,
} from './requirements.js';

function usageField(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    if (!isHypervisorError(error)) throw error;
    expect(error.code).toBe(-99);
    expect(error.codeName).toBe('INVALID_USAGE');
    return error.details['field'];
  }
  throw new Error('expected an INVALID_USAGE error');
}

describe('validateRequirements', () => {
  it('defaults to exactly the original plugin’s values', () => {
    expect({ ...defaultRequirements }).toStrictEqual({ cpus: 1, ram: 256, disk: 1024, version: '1.3' });
    expect(Object.isFrozen(defaultRequirements)).toBe(true);
    for (const input of [undefined, null, {}]) {
      expect(validateRequirements(input)).toStrictEqual({ cpus: 1, ram: 256, disk: 1024, version: '1.3' });
    }
  });

  it('returns a fresh object, never the frozen defaults', () => {
    const result = validateRequirements(undefined);
    expect(result).not.toBe(defaultRequirements);
    expect(Object.isFrozen(result)).toBe(false);
  });

  it('fills the missing fields of a partial object', () => {
    expect(validateRequirements({ ram: 512 })).toStrictEqual({
      cpus: 1,
      ram: 512,
      disk: 1024,
      version: '1.3',
    });
    expect(validateRequirements({ cpus: 4, version: 'cernvm-4.0' })).toStrictEqual({
      cpus: 4,
      ram: 256,
      disk: 1024,
      version: 'cernvm-4.0',
    });
  });

  it('accepts every limit exactly', () => {
    const { cpus, ram, disk } = requirementLimits;
    expect(validateRequirements({ cpus: cpus.min, ram: ram.min, disk: disk.min })).toMatchObject({
      cpus: 1,
      ram: 32,
      disk: 0,
    });
    expect(validateRequirements({ cpus: cpus.max, ram: ram.max, disk: disk.max })).toMatchObject({
      cpus: 64,
      ram: 1024 * 1024,
      disk: 2 * 1024 * 1024,
    });
    expect(validateRequirements({ version: `a${'b'.repeat(63)}` }).version).toHaveLength(64);
  });

  it.each([
    ['a string', 'cpus=2', 'requirements'],
    ['an array', [1, 256], 'requirements'],
    ['a number', 2, 'requirements'],
    ['a boolean', true, 'requirements'],
  ])('refuses %s as requirements', (_what, input, field) => {
    expect(usageField(() => validateRequirements(input))).toBe(field);
  });

  it.each([
    [{ rma: 512 }, 'rma'],
    [{ cpus: 1, extra: true }, 'extra'],
    [{ ['__proto__x']: 1 }, '__proto__x'],
  ])('refuses the unknown field of %j', (input, field) => {
    expect(usageField(() => validateRequirements(input))).toBe(field);
  });

  it.each([
    ['cpus', 0],
    ['cpus', 65],
    ['cpus', 1.5],
    ['cpus', '2'],
    ['cpus', Number.NaN],
    ['cpus', Number.POSITIVE_INFINITY],
    ['cpus', -1],
    ['cpus', null],
    ['ram', 31],
    ['ram', 1024 * 1024 + 1],
    ['ram', 256.5],
    ['ram', '256'],
    ['disk', -1],
    ['disk', 2 * 1024 * 1024 + 1],
    ['disk', 1e100],
    ['disk', true],
    ['version', ''],
    ['version', '../../etc/passwd'],
    ['version', '-1.3'],
    ['version', '1.3; rm -rf /'],
    ['version', '1.3\n'],
    ['version', `a${'b'.repeat(64)}`],
    ['version', 1.3],
    ['version', null],
  ])('refuses %s = %j', (field, value) => {
    expect(usageField(() => validateRequirements({ [field]: value }))).toBe(field);
  });
});

describe('validateExecutionCap', () => {
  it('accepts integers from 1 to 100', () => {
    expect(executionCapLimits).toEqual({ min: 1, max: 100 });
    for (const cap of [1, 50, 100]) expect(validateExecutionCap(cap)).toBe(cap);
  });

  it.each([0, 101, -5, 50.5, '50', Number.NaN, null, undefined])('refuses %j', (cap) => {
    expect(usageField(() => validateExecutionCap(cap))).toBe('cap');
  });

  it('names the given field', () => {
    expect(usageField(() => validateExecutionCap(0, 'daemonMaxCap'))).toBe('daemonMaxCap');
  });
});
