import { HypervisorError } from '@cvmweb/core';
import { type ParsedFrame, parseClientFrame } from '../protocol/client-frame.js';
import { forPages } from '../protocol/wire-error.js';
import type { FrameLimits } from './frame-limits.js';
import { TokenBucket } from './token-bucket.js';

/**
 * The limits every frame of one connection passes before it runs: text only,
 * size, rate (a token bucket), valid shape, and requests in flight
 * ({@link FrameGate.done} when one is answered). @internal
 */
export class FrameGate {
  readonly #limits: FrameLimits;
  readonly #bucket: TokenBucket;
  #inFlight = 0;

  constructor(limits: FrameLimits) {
    this.#limits = limits;
    this.#bucket = new TokenBucket(limits.framesPerSecond, limits.burst);
  }

  /**
   * Checks a received message: the frame to run, or the error to answer (with
   * the frame's `id` when readable). An admitted frame counts as in flight
   * until {@link FrameGate.done}.
   */
  admit(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): ParsedFrame {
    const limits = this.#limits;
    if (isBinary) {
      return refuse(null, 'INVALID_USAGE', 'binary frames are not accepted; send JSON text', {
        reason: 'binary',
      });
    }
    const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength;
    if (size > limits.maxFrameBytes) {
      return refuse(null, 'INVALID_USAGE', `a frame may have at most ${limits.maxFrameBytes} bytes`, {
        reason: 'size',
        maxFrameBytes: limits.maxFrameBytes,
      });
    }
    const text = Array.isArray(data)
      ? Buffer.concat(data).toString('utf8')
      : (Buffer.isBuffer(data) ? data : Buffer.from(data)).toString('utf8');
    const parsed = parseClientFrame(text);
    const id = parsed.ok ? parsed.frame.id : parsed.id;
    if (!this.#bucket.take()) {
      return refuse(id, 'NOT_ALLOWED', 'too many frames; slow down', {
        reason: 'rate',
        retryAfterMs: this.#bucket.retryAfterMs(),
      });
    }
    if (!parsed.ok) return { ok: false, id: parsed.id, error: parsed.error };
    if (this.#inFlight >= limits.maxInFlight) {
      return refuse(id, 'NOT_ALLOWED', `at most ${limits.maxInFlight} requests may wait at once`, {
        reason: 'busy',
        limit: limits.maxInFlight,
      });
    }
    this.#inFlight++;
    return { ok: true, frame: parsed.frame };
  }

  /** An admitted frame was answered. */
  done(): void {
    this.#inFlight--;
  }
}

function refuse(
  id: number | null,
  code: 'INVALID_USAGE' | 'NOT_ALLOWED',
  message: string,
  details: Record<string, unknown>,
): ParsedFrame {
  return { ok: false, id, error: forPages(new HypervisorError(code, message, { details })) };
}
