import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isHypervisorError } from '../errors/hypervisor-error.js';
import {
  deriveVmName,
  maxSessionNameLength,
  validatePropertyKey,
  validatePropertyValue,
  validateSessionName,
} from './session-names.js';

const SAFE = /^cvmweb-[a-z0-9-]*[0-9a-f]{12}$/;

function expectSafe(vmName: string): void {
  expect(vmName).toMatch(SAFE);
  expect(vmName.length).toBeLessThanOrEqual(63);
  expect(vmName).not.toContain('--');
  expect(vmName.endsWith('-')).toBe(false);
}

function usageField(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    if (!isHypervisorError(error)) throw error;
    expect(error.code).toBe(-99);
    return error.details['field'];
  }
  throw new Error('expected an INVALID_USAGE error');
}

const hostile = [
  'my session',
  `it's "quoted"`,
  '<script>alert(1)</script>',
  'a & b',
  'line\nbreak',
  '$(rm -rf /); `id` | cat > /etc/passwd',
  '--flag',
  '-rf',
  '../../etc',
  'ünïcödé Ωμέγα',
  '🚀🔥 emoji 👩‍👩‍👧',
  'MiXeD CaSe',
  'a\0b',
  '',
  'x'.repeat(10_000),
];

describe('deriveVmName', () => {
  it.each(hostile.map((name) => [name.slice(0, 40), name]))('is safe for %j', (_label, name) => {
    expectSafe(deriveVmName('local', name));
  });

  it('gives every hostile name its own VM name', () => {
    const names = hostile.map((name) => deriveVmName('local', name));
    expect(new Set(names).size).toBe(hostile.length);
  });

  it('differs between names that share a slug', () => {
    const sameSlug = ['a"b', 'a<b', 'a&b', 'a\nb', 'a b', 'a-b', 'A-B', 'a--b', 'a;b'];
    const names = sameSlug.map((name) => deriveVmName('local', name));
    for (const vmName of names) expect(vmName).toMatch(/^cvmweb-a-b-[0-9a-f]{12}$/);
    expect(new Set(names).size).toBe(sameSlug.length);
  });

  it('differs for the same name in two scopes, and is stable', () => {
    const a = deriveVmName('https://a.example', 'analysis');
    const b = deriveVmName('https://b.example', 'analysis');
    expect(a).not.toBe(b);
    expect(deriveVmName('https://a.example', 'analysis')).toBe(a);
    expect(a.startsWith('cvmweb-analysis-')).toBe(true);
  });

  it('does not confuse scope and name boundaries', () => {
    expect(deriveVmName('ab', 'c')).not.toBe(deriveVmName('a', 'bc'));
    expect(deriveVmName('local', 'same', 'session-1')).not.toBe(deriveVmName('local', 'same', 'session-2'));
  });

  it('keeps a readable slug of at most 32 characters', () => {
    const vmName = deriveVmName('local', 'Analysis Run #42');
    expect(vmName).toMatch(/^cvmweb-analysis-run-42-[0-9a-f]{12}$/);
    const long = deriveVmName('local', 'word '.repeat(100));
    expect(long.length).toBeLessThanOrEqual(52);
    expectSafe(long);
  });

  it('is safe for any scope and name (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 300 }),
        fc.string({ unit: 'binary' }),
        (scope, name) => {
          expectSafe(deriveVmName(scope, name));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('differs for distinct names in one scope (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (a, b) => {
        fc.pre(a !== b);
        expect(deriveVmName('local', a)).not.toBe(deriveVmName('local', b));
      }),
      { numRuns: 300 },
    );
  });
});

describe('validateSessionName', () => {
  it('accepts printable names of 1 to 128 characters (code points)', () => {
    expect(maxSessionNameLength).toBe(128);
    for (const name of [
      'a',
      'my session',
      `it's "quoted" <b> & $(x) --flag`,
      'x'.repeat(128),
      '🚀'.repeat(128),
    ]) {
      expect(validateSessionName(name)).toBe(name);
    }
  });

  it.each([
    ['empty', ''],
    ['129 characters', 'x'.repeat(129)],
    ['10,000 characters', 'x'.repeat(10_000)],
    ['129 emoji', '🚀'.repeat(129)],
    ['a newline', 'line\nbreak'],
    ['a carriage return', 'a\rb'],
    ['a tab', 'a\tb'],
    ['a NUL', 'a\0b'],
    ['an escape sequence', '\u001b[31mred'],
    ['a C1 control', 'a\u0085b'],
    ['a line separator', 'a\u2028b'],
    ['a paragraph separator', 'a\u2029b'],
    ['a lone surrogate', 'a\ud800b'],
    ['a number', 42],
    ['null', null],
    ['an object', { toString: () => 'x' }],
  ])('refuses %s', (_what, name) => {
    expect(usageField(() => validateSessionName(name))).toBe('name');
  });

  it('never accepts a name longer than 128 code points (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme-composite', maxLength: 300 }), (name) => {
        let accepted = true;
        try {
          validateSessionName(name);
        } catch {
          accepted = false;
        }
        if (accepted) expect([...name].length).toBeGreaterThan(0);
        if (accepted) expect([...name].length).toBeLessThanOrEqual(128);
        expectSafe(deriveVmName('local', name));
      }),
    );
  });
});

describe('property keys and values', () => {
  it('accepts keys of 1–128 of A-Z a-z 0-9 _ . -', () => {
    for (const key of ['host', 'a.b-c_D9', 'k'.repeat(128)]) expect(validatePropertyKey(key)).toBe(key);
  });

  it.each(['', 'k'.repeat(129), 'a b', 'a/b', 'a=b', 'ключ', 'a\nb', 7, null])(
    'refuses the key %j',
    (key) => {
      expect(usageField(() => validatePropertyKey(key))).toBe('propertyName');
    },
  );

  it('accepts values up to 16 KiB characters and refuses longer or non-strings', () => {
    expect(validatePropertyValue('')).toBe('');
    expect(validatePropertyValue('v'.repeat(16 * 1024))).toHaveLength(16 * 1024);
    expect(usageField(() => validatePropertyValue('v'.repeat(16 * 1024 + 1)))).toBe('propertyValue');
    expect(usageField(() => validatePropertyValue(5))).toBe('propertyValue');
  });
});
