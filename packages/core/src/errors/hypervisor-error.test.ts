import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { ErrorCode, ErrorCodeNames, errorCodeName, isErrorCode } from './error-code.js';
import { abortedError, HypervisorError, isHypervisorError, toHypervisorError } from './hypervisor-error.js';

// The original plugin's error codes, row by row, plus ALREADY_EXISTS (2) and STILL_WORKING (-14) of the original code.
const originalErrorCodes = {
  SCHEDULED: 1,
  OK: 0,
  CREATE: -1,
  MODIFY: -2,
  CONTROL: -3,
  DELETE: -4,
  QUERY: -5,
  IO: -6,
  EXTERNAL: -7,
  INVALID_STATE: -8,
  NOT_FOUND: -9,
  NOT_ALLOWED: -10,
  NOT_SUPPORTED: -11,
  NOT_VALIDATED: -12,
  NOT_TRUSTED: -13,
  PASSWORD_DENIED: -20,
  INVALID_USAGE: -99,
  NOT_IMPLEMENTED: -100,
} as const;
const originalExtras = { ALREADY_EXISTS: 2, STILL_WORKING: -14 } as const;

describe('ErrorCode', () => {
  it('is exactly the original plugin’s error codes plus ALREADY_EXISTS and STILL_WORKING', () => {
    expect({ ...ErrorCode }).toStrictEqual({ ...originalErrorCodes, ...originalExtras });
    expect(Object.keys(ErrorCode)).toHaveLength(20);
  });

  it('has every number of the original plugin’s error codes once', () => {
    const numbers = Object.values(ErrorCode);
    expect(new Set(numbers).size).toBe(numbers.length);
    expect(numbers.toSorted((a, b) => a - b)).toEqual([
      -100, -99, -20, -14, -13, -12, -11, -10, -9, -8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2,
    ]);
  });

  it('has an exact inverse in ErrorCodeNames', () => {
    for (const [name, code] of Object.entries(ErrorCode)) {
      expect(ErrorCodeNames[code]).toBe(name);
      expect(errorCodeName(code)).toBe(name);
    }
    expect(Object.keys(ErrorCodeNames)).toHaveLength(Object.keys(ErrorCode).length);
    expect(Object.isFrozen(ErrorCodeNames)).toBe(true);
  });

  it('isErrorCode accepts only the numbers of the map', () => {
    for (const code of Object.values(ErrorCode)) expect(isErrorCode(code)).toBe(true);
    for (const other of [-15, 3, -101, 0.5, Number.NaN, '-8', null, undefined, 'INVALID_STATE']) {
      expect(isErrorCode(other)).toBe(false);
    }
    expect(errorCodeName(-15)).toBeUndefined();
  });
});

describe('HypervisorError', () => {
  it('is constructed the same by name and by number', () => {
    const byName = new HypervisorError('INVALID_STATE', 'nope');
    const byNumber = new HypervisorError(-8, 'nope');
    for (const error of [byName, byNumber]) {
      expect(error).toBeInstanceOf(Error);
      expect(error.name).toBe('HypervisorError');
      expect(error.code).toBe(-8);
      expect(error.codeName).toBe('INVALID_STATE');
      expect(error.message).toBe('nope');
      expect(error.aborted).toBe(false);
      expect(error.details).toEqual({});
      expect(error.cause).toBeUndefined();
    }
  });

  it('constructs every code of the map, by name and by number', () => {
    for (const [name, code] of Object.entries(ErrorCode) as [keyof typeof ErrorCode, number][]) {
      expect(new HypervisorError(name, 'x').code).toBe(code);
      expect(new HypervisorError(code as (typeof ErrorCode)[keyof typeof ErrorCode], 'x').codeName).toBe(
        name,
      );
    }
  });

  it.each([42, -15, 0.5, Number.NaN, 'NOPE', 'toString', '__proto__', 'constructor'])(
    'refuses the unknown code %s with a TypeError',
    (code) => {
      expect(() => new HypervisorError(code as never, 'x')).toThrow(TypeError);
    },
  );

  it('keeps cause, details (frozen copy) and aborted', () => {
    const cause = new Error('root');
    const details = { field: 'cpus' };
    const error = new HypervisorError('INVALID_USAGE', 'bad', { cause, details, aborted: true });
    details.field = 'changed';
    expect(error.cause).toBe(cause);
    expect(error.details).toEqual({ field: 'cpus' });
    expect(Object.isFrozen(error.details)).toBe(true);
    expect(error.aborted).toBe(true);
  });

  it('toJSON gives code, codeName, message and details only', () => {
    const error = new HypervisorError('NOT_FOUND', 'missing', {
      cause: new Error('x'),
      details: { id: 'a' },
    });
    expect(error.toJSON()).toStrictEqual({
      code: -9,
      codeName: 'NOT_FOUND',
      message: 'missing',
      details: { id: 'a' },
    });
    expect(JSON.parse(JSON.stringify(error))).toStrictEqual({
      code: -9,
      codeName: 'NOT_FOUND',
      message: 'missing',
      details: { id: 'a' },
    });
  });
});

describe('isHypervisorError', () => {
  it('recognises an error made by another copy of the module', async () => {
    const specifier = './hypervisor-error.js?copy=1';
    const copy = (await import(/* @vite-ignore */ specifier)) as typeof import('./hypervisor-error.js');
    expect(copy.HypervisorError).not.toBe(HypervisorError);
    const foreign = new copy.HypervisorError('NOT_FOUND', 'from the other copy');
    expect(foreign instanceof HypervisorError).toBe(false);
    expect(isHypervisorError(foreign)).toBe(true);
    expect(copy.isHypervisorError(new HypervisorError('IO', 'x'))).toBe(true);
    // toHypervisorError passes it through rather than wrapping it.
    expect(toHypervisorError(foreign, 'IO', 'wrapped')).toBe(foreign);
  });

  it('recognises a branded error from another realm', () => {
    const foreign = runInNewContext(
      `const e = new Error('other realm'); e.code = -9; Object.defineProperty(e, Symbol.for('@cvmweb/core/HypervisorError'), { value: true }); e`,
    );
    expect(foreign instanceof Error).toBe(false);
    expect(isHypervisorError(foreign)).toBe(true);
  });

  it('refuses look-alikes without the brand', () => {
    const lookAlikes: unknown[] = [
      {
        name: 'HypervisorError',
        code: -8,
        codeName: 'INVALID_STATE',
        message: 'x',
        details: {},
        aborted: false,
      },
      Object.assign(new Error('x'), { name: 'HypervisorError', code: -8 }),
      { [Symbol('@cvmweb/core/HypervisorError')]: true },
      { [Symbol.for('@cvmweb/core/HypervisorError')]: 'true' },
      { [Symbol.for('@cvmweb/core/HypervisorError')]: 1 },
      new HypervisorError('IO', 'x').toJSON(),
      null,
      undefined,
      -8,
      'HypervisorError',
    ];
    for (const value of lookAlikes) expect(isHypervisorError(value)).toBe(false);
    expect(isHypervisorError(new HypervisorError('IO', 'x'))).toBe(true);
  });
});

describe('toHypervisorError', () => {
  it('returns a HypervisorError unchanged', () => {
    const error = new HypervisorError('NOT_FOUND', 'x');
    expect(toHypervisorError(error, 'IO', 'y')).toBe(error);
  });

  it('wraps a plain Error with the given code, keeping it as cause', () => {
    const cause = new Error('disk full');
    const error = toHypervisorError(cause, 'IO', 'writing the record', { path: '/x' });
    expect(isHypervisorError(error)).toBe(true);
    expect(error.code).toBe(ErrorCode.IO);
    expect(error.cause).toBe(cause);
    expect(error.message).toContain('writing the record');
    expect(error.message).toContain('disk full');
    expect(error.details).toEqual({ path: '/x' });
    expect(error.aborted).toBe(false);
  });

  it('wraps a non-Error value, keeping it as cause', () => {
    const error = toHypervisorError('boom', 'EXTERNAL', 'calling the tool');
    expect(error.code).toBe(-7);
    expect(error.cause).toBe('boom');
    expect(error.message).toContain('boom');
  });

  it('maps an AbortError to an aborted CONTROL error, whatever code was asked', () => {
    const reason = AbortSignal.abort().reason;
    expect(reason.name).toBe('AbortError');
    const error = toHypervisorError(reason, 'IO', 'downloading');
    expect(error.code).toBe(ErrorCode.CONTROL);
    expect(error.aborted).toBe(true);
    expect(error.cause).toBe(reason);
    const named = Object.assign(new Error('stop'), { name: 'AbortError' });
    expect(toHypervisorError(named, 'QUERY', 'x')).toMatchObject({ code: -3, aborted: true });
    const timeout = new DOMException('too slow', 'TimeoutError');
    expect(toHypervisorError(timeout, 'QUERY', 'x')).toMatchObject({ code: -3, aborted: true });
  });

  it('abortedError is an aborted CONTROL error with the reason as cause', () => {
    const reason = new Error('user left');
    expect(abortedError('open()', reason)).toMatchObject({ code: -3, aborted: true, cause: reason });
  });
});
