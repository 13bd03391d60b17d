import { ErrorCode } from '@cvmweb/core';
import { describe, expect, it } from 'vitest';
import { KeyAttemptThrottle } from './key-attempt-throttle.js';

const PAGE = 'https://site.example';

describe('KeyAttemptThrottle', () => {
  it('lets a few attempts through, then refuses for a doubling delay; the right key clears it', () => {
    let now = 0;
    const throttle = new KeyAttemptThrottle({
      freeAttempts: 3,
      baseDelayMs: 1000,
      maxDelayMs: 4000,
      now: () => now,
    });
    for (let i = 0; i < 3; i++) throttle.attempt(PAGE, 'vm');
    const refused = () => {
      try {
        throttle.attempt(PAGE, 'vm');
        return undefined;
      } catch (error) {
        return error as { code: number; details: { reason: string; retryAfterMs: number } };
      }
    };
    expect(refused()).toMatchObject({
      code: ErrorCode.PASSWORD_DENIED,
      details: { reason: 'throttled', retryAfterMs: 1000 },
    });
    // Another name and another origin are not affected.
    throttle.attempt(PAGE, 'other');
    throttle.attempt('https://else.example', 'vm');
    now += 1000;
    expect(refused()).toBeUndefined();
    expect(refused()?.details.retryAfterMs).toBe(2000);
    now += 2000;
    expect(refused()).toBeUndefined();
    now += 4000;
    expect(refused()).toBeUndefined();
    // Capped at maxDelayMs.
    expect(refused()?.details.retryAfterMs).toBe(4000);
    now += 4000;
    throttle.succeeded(PAGE, 'vm');
    for (let i = 0; i < 3; i++) throttle.attempt(PAGE, 'vm');
  });
});
