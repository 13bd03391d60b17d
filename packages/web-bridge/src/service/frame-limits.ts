/** Limits of one WebSocket connection. */
export interface FrameLimits {
  /** Largest text frame answered normally, bytes; larger frames get an `INVALID_USAGE` error. Default 2.5 MiB (1 MiB of user data, escaped). */
  readonly maxFrameBytes: number;
  /** Frames a second, sustained. Default 500. */
  readonly framesPerSecond: number;
  /** Frames allowed in a burst. Default 1000. */
  readonly burst: number;
  /** Requests of one connection in flight at once. Default 64. */
  readonly maxInFlight: number;
  /** Bytes queued to a slow client before the connection is closed (1008). Default 16 MiB. */
  readonly maxBufferedBytes: number;
  /** Connections at once. Default 1000. */
  readonly maxConnections: number;
}

/** The default {@link FrameLimits}. */
export const defaultFrameLimits: FrameLimits = Object.freeze({
  maxFrameBytes: 2.5 * 1024 * 1024,
  framesPerSecond: 500,
  burst: 1000,
  maxInFlight: 64,
  maxBufferedBytes: 16 * 1024 * 1024,
  maxConnections: 1000,
});
