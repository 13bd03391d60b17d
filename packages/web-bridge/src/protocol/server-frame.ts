import type {
  DaemonTimelineEntry,
  ErrorCodeName,
  ErrorCodeValue,
  SessionStateValue,
} from '@cvmweb/core/browser';

/**
 * What the service pushes about a session with every event and result: the
 * original plugin's session properties, so a client reads them without a round trip.
 */
export interface SessionSnapshot {
  /** The session's stable id (use it in session frames). */
  readonly id: string;
  /** The name given to `requestSession`. */
  readonly name: string;
  /** The state (the original plugin's state constants): 0 Closed … 6 Paused. */
  readonly state: SessionStateValue;
  /** The VM's memory is saved; `start()` restores it. */
  readonly hibernated: boolean;
  /** Virtual CPUs. */
  readonly cpus: number;
  /** Memory, MiB. */
  readonly ram: number;
  /** Scratch disk, MiB. */
  readonly disk: number;
  /** CernVM image version. */
  readonly version: string;
  /** Execution cap, percent. */
  readonly executionCap: number;
  /** The guest's IP address once its API answered, else `''`. */
  readonly ip: string;
  /** The URL of the VM's API once it answered, else `''`. */
  readonly apiURL: string;
  /** Host and port of the display, or `''`. */
  readonly rdpURL: string;
  /** The daemon manages this session. */
  readonly daemonControlled: boolean;
  /** Execution cap while the user is active. */
  readonly daemonMinCap: number;
  /** Execution cap while the user is idle. */
  readonly daemonMaxCap: number;
  /** `DF_*` bits. */
  readonly daemonFlags: number;
}

/** The error object of an error frame: core's `HypervisorError.toJSON()`. */
export interface WireError {
  /** Numeric code (the original plugin's error codes), always negative. */
  readonly code: ErrorCodeValue;
  /** Symbolic name of the code, such as `NOT_ALLOWED`. */
  readonly codeName: ErrorCodeName;
  /** For people; never parse it. */
  readonly message: string;
  /** Structured facts (field, limit, retryAfterMs, …). */
  readonly details: Readonly<Record<string, unknown>>;
}

/** Sent once when a connection opens. */
export interface HelloFrame {
  /** Protocol version. */
  readonly v: number;
  /** `hello`. */
  readonly type: 'hello';
  /** The service's package version. */
  readonly version: string;
  /** The hypervisor's driver name (original plugin: `hypervisorName`). */
  readonly hypervisorName: string;
  /** The hypervisor's version (original plugin: `hypervisorVersion`). */
  readonly hypervisorVersion: string;
  /** True when the service runs on the mock fallback because no real hypervisor is usable. */
  readonly fallback: boolean;
  /** The origin the service saw (the scope of this connection's sessions). */
  readonly origin: string;
  /** Whether the origin is privileged (configured in the policy file). */
  readonly privileged: boolean;
  /** Frame and rate limits of this connection. */
  readonly limits: {
    /** The largest frame the service accepts, in bytes. */
    readonly maxFrameBytes: number;
    /** Frames per second the service accepts on average. */
    readonly framesPerSecond: number;
    /** Frames the service accepts at once above that rate. */
    readonly burst: number;
  };
}

/** The successful answer to a request. */
export interface ResultFrame {
  /** Protocol version. */
  readonly v: number;
  /** `result`. */
  readonly type: 'result';
  /** The request's id. */
  readonly id: number;
  /** The answer; its form depends on the request's `op`. */
  readonly value: unknown;
  /** The session's properties after the action, for session requests. */
  readonly snapshot?: SessionSnapshot;
}

/** The failed answer to a request, or to a frame that could not be read (`id` null). */
export interface ErrorFrame {
  /** Protocol version. */
  readonly v: number;
  /** `error`. */
  readonly type: 'error';
  /** The request's id, or `null` when the frame had no readable id. */
  readonly id: number | null;
  /** What went wrong. */
  readonly error: WireError;
}

/** An event of a session this connection requested, pushed as it happens. */
export interface EventFrame {
  /** Protocol version. */
  readonly v: number;
  /** `event`. */
  readonly type: 'event';
  /** The session's id. */
  readonly session: string;
  /** The original plugin's event name (`open`, `progress`, `stateChanged`, …). */
  readonly event: string;
  /** The event's arguments in the original plugin's order. */
  readonly args: readonly unknown[];
  /** The session's properties after the event. */
  readonly snapshot: SessionSnapshot;
}

/** Sent while a `requestSession` waits for the person's approval. */
export interface ConsentFrame {
  /** Protocol version. */
  readonly v: number;
  /** `consent`. */
  readonly type: 'consent';
  /** The id of the waiting `requestSession`. */
  readonly id: number;
  /** The service's consent page, where the person decides (the page cannot decide for them). */
  readonly url: string;
}

/**
 * One point of the daemon's timeline as a page sees it: `DaemonTimelineEntry` of `@cvmweb/core`, filtered
 * per origin (see docs/protocol.md). `at` is ms since the epoch on the service's clock.
 */
export type TimelineEntry = DaemonTimelineEntry;

/** The result `value` of a `timeline` request. */
export interface TimelineResult {
  /** The service's clock when it answered, ms since the epoch. */
  readonly now: number;
  /** The entries at or after `since` this connection may see, oldest first. */
  readonly events: readonly TimelineEntry[];
  /** True when older entries were left out to keep the answer under the limit (the newest are kept). */
  readonly truncated: boolean;
  /** Whether this connection now receives `timeline` frames. */
  readonly subscribed: boolean;
}

/** A new timeline entry, pushed to connections that subscribed with `timeline` (`subscribe: true`). */
export interface TimelineFrame {
  /** Protocol version. */
  readonly v: number;
  /** `timeline`. */
  readonly type: 'timeline';
  /** The entry. */
  readonly event: TimelineEntry;
}

/**
 * A session's properties changed without a session event (the daemon changed
 * its execution cap, another page or program changed a property or the daemon
 * fields): sent to every connection that requested the session.
 */
export interface SnapshotFrame {
  /** Protocol version. */
  readonly v: number;
  /** `snapshot`. */
  readonly type: 'snapshot';
  /** The session's id. */
  readonly session: string;
  /** The session's properties now. */
  readonly snapshot: SessionSnapshot;
}

/** Every frame the service sends. */
export type ServerFrame =
  | HelloFrame
  | ResultFrame
  | ErrorFrame
  | EventFrame
  | ConsentFrame
  | TimelineFrame
  | SnapshotFrame;

/**
 * The answer to a `console` request: a one-time token for the console WebSocket
 * (`ws://<service><path>?token=<token>`), usable once, by the same origin, within
 * `expiresInMs`, while the page's bridge connection stays open.
 */
export interface ConsoleTicket {
  /** The token: 43 base64url characters (32 random bytes). */
  readonly token: string;
  /** The endpoint's path on the service, `/console`. */
  readonly path: string;
  /** How long the token stays usable, ms. */
  readonly expiresInMs: number;
}
