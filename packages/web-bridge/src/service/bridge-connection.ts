import { HypervisorError, originalEventNames, type Session } from '@cvmweb/core';
import type { RawData, WebSocket } from 'ws';
import type { ClientFrame } from '../protocol/client-frame.js';
import { PROTOCOL_VERSION } from '../protocol/protocol-version.js';
import type {
  ConsoleTicket,
  ServerFrame,
  SessionSnapshot,
  TimelineResult,
} from '../protocol/server-frame.js';
import { forPages, pageErrorMessage, wireError } from '../protocol/wire-error.js';
import { admitSession } from './admit-session.js';
import type { ConnectionContext } from './connection-context.js';
import { CONSOLE_PATH } from './console-relay.js';
import { FrameGate } from './frame-gate.js';
import { runSessionAction } from './run-session-action.js';
import { sessionSnapshot, sessionSummary } from './session-snapshot.js';
import { MAX_TIMELINE_ENTRIES, visibleEntry } from './timeline-feed.js';

/**
 * Every session event forwarded to clients: the original plugin's (core's
 * `originalEventNames`), plus `stateChanged`. `debug` goes to privileged origins
 * only; the other origins read the messages of `<action>Error` and `error`
 * events as fixed words per error code.
 */
export const forwardedEvents = [...originalEventNames, 'stateChanged'] as const;

interface Attached {
  readonly session: Session;
  readonly detach: () => void;
  /** The last snapshot sent (JSON), so a `changed` already told by an event sends nothing more. */
  sent: string;
}

/**
 * One page's WebSocket: validates each frame, applies the rate and size
 * limits, scopes sessions to the page's origin, and pushes the events of the
 * sessions it requested.
 */
export class BridgeConnection {
  readonly #ws: WebSocket;
  readonly #origin: string;
  readonly #context: ConnectionContext;
  readonly #gate: FrameGate;
  readonly #attached = new Map<string, Attached>();
  #closed = false;
  #onSocketClosed: () => void = () => undefined;
  /** Settles when the WebSocket has closed (the close handshake finished, or it was cut off). */
  readonly closed = new Promise<void>((resolve) => {
    this.#onSocketClosed = resolve;
  });
  #unwatchTimeline: (() => void) | undefined;
  /** Aborts what the page waits for (consent) when its connection closes. */
  readonly #gone = new AbortController();

  constructor(ws: WebSocket, origin: string, context: ConnectionContext) {
    this.#ws = ws;
    this.#origin = origin;
    this.#context = context;
    this.#gate = new FrameGate(context.limits);
    ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
    ws.on('close', () => {
      this.#onSocketClosed();
      this.#dispose();
    });
    ws.on('error', () => this.#dispose());
    const { cvmweb, limits } = context;
    this.#send({
      v: PROTOCOL_VERSION,
      type: 'hello',
      version: context.version,
      hypervisorName: cvmweb.hypervisorName,
      hypervisorVersion: cvmweb.hypervisorVersion,
      fallback: cvmweb.fallback,
      origin,
      privileged: this.#privileged,
      limits: {
        maxFrameBytes: limits.maxFrameBytes,
        framesPerSecond: limits.framesPerSecond,
        burst: limits.burst,
      },
    });
  }

  /**
   * Refuses a client that asked for another protocol version (`/bridge?v=N`)
   * after the hello frame told it the service's: an `error` frame
   * (`INVALID_USAGE`, `details.reason` `version`, `supported`), then close 1002.
   */
  refuseProtocol(requested: string): void {
    this.#fail(
      null,
      forPages(
        new HypervisorError(
          'INVALID_USAGE',
          `this service speaks bridge protocol ${PROTOCOL_VERSION}, not ${requested.slice(0, 16)}`,
          { details: { reason: 'version', supported: [PROTOCOL_VERSION] } },
        ),
      ),
    );
    this.close(1002, 'unsupported protocol version');
  }

  /** The page's origin: the scope of its sessions. */
  get origin(): string {
    return this.#origin;
  }

  /** Closes the WebSocket (the service stops): sends the close frame; see {@link BridgeConnection.closed}. */
  close(code = 1001, reason = 'the service is stopping'): void {
    this.#ws.close(code, reason);
    this.#dispose();
  }

  /** Cuts the connection off at once, without waiting for the client to answer the close frame. */
  terminate(): void {
    this.#ws.terminate();
    this.#dispose();
  }

  get #privileged(): boolean {
    return this.#context.policy.isPrivileged(this.#origin);
  }

  /**
   * Privileged origins and the service's own test page read what may name host
   * details: `debug` events, the failures' own messages, idle seconds.
   */
  get #trusted(): boolean {
    return this.#privileged || this.#context.isOwnOrigin(this.#origin);
  }

  /** The person approved this origin (or it holds sessions approved earlier), and did not withdraw it since. */
  get #consented(): boolean {
    const { broker } = this.#context;
    if (broker.isWithdrawn(this.#origin)) return false;
    return broker.isApproved(this.#origin) || this.#attached.size > 0;
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    const admitted = this.#gate.admit(data, isBinary);
    if (!admitted.ok) {
      this.#fail(admitted.id, admitted.error);
      return;
    }
    const { frame } = admitted;
    this.#dispatch(frame).then(
      ({ value, snapshot }) => {
        this.#gate.done();
        this.#send(
          snapshot
            ? { v: PROTOCOL_VERSION, type: 'result', id: frame.id, value, snapshot }
            : { v: PROTOCOL_VERSION, type: 'result', id: frame.id, value },
        );
      },
      (error: unknown) => {
        this.#gate.done();
        this.#fail(frame.id, error, frame.op);
      },
    );
  }

  async #dispatch(frame: ClientFrame): Promise<{ value: unknown; snapshot?: SessionSnapshot }> {
    switch (frame.op) {
      case 'ping':
        return { value: 'pong' };
      case 'requestSession':
        return this.#requestSession(frame.id, frame.name, frame.key);
      case 'requestDaemonAccess': {
        const access = await this.#context.cvmweb.requestDaemonAccess({ privileged: this.#privileged });
        return {
          value: {
            privileged: access.privileged,
            isRunning: access.isRunning,
            isSystemIdle: access.isSystemIdle,
            idleTime: access.idleTime,
            path: access.path ?? null,
          },
        };
      }
      case 'daemon': {
        this.#requirePrivileged(`daemon ${frame.action}()`);
        const access = await this.#context.cvmweb.requestDaemonAccess({ privileged: true });
        if (frame.action === 'start') await access.start();
        else if (frame.action === 'stop') await access.stop();
        else await access.setIdleTime(frame.seconds ?? Number.NaN);
        return { value: null };
      }
      case 'listSessions':
        this.#requirePrivileged('the list of all sessions');
        return {
          value: this.#context.cvmweb.sessions().map(sessionSummary),
        };
      case 'timeline':
        return { value: this.#timeline(frame.since, frame.subscribe) };
      case 'console':
        return { value: await this.#console(frame.session) };
      default:
        return this.#sessionAction(frame);
    }
  }

  /** The daemon's timeline as this connection may see it; subscribes or unsubscribes when asked. */
  #timeline(since: number | undefined, subscribe: boolean | undefined): TimelineResult {
    const feed = this.#context.timeline;
    if (!feed) throw forPages(new HypervisorError('NOT_IMPLEMENTED', 'no daemon runs with the service'));
    // The timeline tells when the person is at the keyboard: nothing for origins without consent.
    const trusted = this.#trusted;
    if (!trusted && !this.#consented) {
      throw forPages(
        new HypervisorError('NOT_ALLOWED', 'the timeline needs an approved session of this origin', {
          details: { reason: 'consent', what: 'timeline' },
        }),
      );
    }
    const owns = (id: string) => this.#attached.has(id);
    const visible = feed
      .timeline(since ?? Number.NEGATIVE_INFINITY)
      .flatMap((entry) => visibleEntry(entry, trusted, owns) ?? []);
    if (subscribe === true && !this.#unwatchTimeline) {
      this.#unwatchTimeline = feed.on('timeline', (entry) => {
        // Privilege, consent and ownership are checked per entry: a session requested later shows
        // from then on, and a revoked origin gets nothing more.
        const trustedNow = this.#trusted;
        if (!trustedNow && !this.#consented) return;
        const event = visibleEntry(entry, trustedNow, (id) => this.#attached.has(id));
        if (event) this.#send({ v: PROTOCOL_VERSION, type: 'timeline', event });
      });
    } else if (subscribe === false) {
      this.#unwatchTimeline?.();
      this.#unwatchTimeline = undefined;
    }
    return {
      now: Date.now(),
      events: visible.slice(-MAX_TIMELINE_ENTRIES),
      truncated: visible.length > MAX_TIMELINE_ENTRIES,
      subscribed: this.#unwatchTimeline !== undefined,
    };
  }

  /**
   * A one-time token for the console of `id`: a session this connection holds (a privileged
   * origin: any session), with consent, running with a display. Another origin's session and an
   * unknown id both answer `NOT_ALLOWED`.
   */
  async #console(id: string): Promise<ConsoleTicket> {
    const session =
      this.#attached.get(id)?.session ??
      (this.#privileged ? await this.#context.cvmweb.session(id, { signal: this.#gone.signal }) : undefined);
    if (!session) {
      throw forPages(
        new HypervisorError('NOT_ALLOWED', 'a console is only for a session this page requested', {
          details: { reason: 'owner', what: 'console' },
        }),
      );
    }
    if (!this.#context.isOwnOrigin(this.#origin)) this.#context.broker.assertMayAct(this.#origin);
    // Rejects with NOT_SUPPORTED without a display, INVALID_STATE while the VM does not run.
    await session.displayEndpoint({ signal: this.#gone.signal });
    const { consoleTokens } = this.#context;
    const token = consoleTokens.issue({ origin: this.#origin, session, signal: this.#gone.signal });
    return { token, path: CONSOLE_PATH, expiresInMs: consoleTokens.ttlMs };
  }

  async #requestSession(
    id: number,
    name: string,
    key: string,
  ): Promise<{ value: unknown; snapshot: SessionSnapshot }> {
    const session = await admitSession(this.#context, this.#origin, name, key, {
      onWaiting: () =>
        this.#send({ v: PROTOCOL_VERSION, type: 'consent', id, url: this.#context.consentUrl }),
      signal: this.#gone.signal,
    });
    if (!this.#closed) this.#attach(session);
    const snapshot = sessionSnapshot(session);
    return { value: snapshot, snapshot };
  }

  async #sessionAction(
    frame: Exclude<Extract<ClientFrame, { session: string }>, { op: 'console' }>,
  ): Promise<{ value: unknown; snapshot?: SessionSnapshot }> {
    const attached = this.#attached.get(frame.session);
    // The same answer whether the id is unknown or another origin's: nothing to probe.
    if (!attached) {
      throw forPages(
        new HypervisorError('NOT_FOUND', 'no such session on this connection; request it first', {
          details: { field: 'session' },
        }),
      );
    }
    if (!this.#context.isOwnOrigin(this.#origin) && frame.op !== 'release') {
      this.#context.broker.assertMayAct(this.#origin);
    }
    if (frame.op === 'release') {
      attached.detach();
      this.#attached.delete(frame.session);
      return { value: null };
    }
    return runSessionAction(attached.session, frame, this.#context, this.#origin, (session, action, error) =>
      this.#refused(session, action, error),
    );
  }

  #requirePrivileged(what: string): void {
    if (!this.#privileged) {
      throw forPages(
        new HypervisorError('NOT_ALLOWED', `${what} needs a privileged origin`, {
          details: { reason: 'privileged', what },
        }),
      );
    }
  }

  #attach(session: Session): void {
    if (this.#attached.has(session.id)) return;
    const offs = forwardedEvents.map((event) =>
      session.on(event, (...args: unknown[]) => this.#forward(session, event, args)),
    );
    // The persisted record changed (the daemon's cap, another page's or program's property or
    // daemon fields): the page gets the properties without a round trip, unless an event just did.
    offs.push(session.on('changed', () => this.#pushSnapshot(session)));
    this.#attached.set(session.id, {
      session,
      sent: '',
      detach: () => {
        for (const off of offs) off();
      },
    });
  }

  #forward(session: Session, event: (typeof forwardedEvents)[number], args: unknown[]): void {
    const trusted = this.#trusted;
    // Each hypervisor command line: only for privileged origins.
    if (event === 'debug' && !trusted) return;
    let shown = args;
    if (!trusted && (event === 'error' || event.endsWith('Error'))) {
      // The driver's message may name paths and command lines: pages read fixed words per code.
      const [, code, ...rest] = args;
      const action =
        event === 'error' ? (typeof rest[0] === 'string' ? rest[0] : undefined) : event.slice(0, -5);
      shown = [pageErrorMessage(typeof code === 'number' ? code : Number.NaN, action), code, ...rest];
    }
    const snapshot = sessionSnapshot(session);
    const attached = this.#attached.get(session.id);
    if (attached) attached.sent = JSON.stringify(snapshot);
    this.#send({ v: PROTOCOL_VERSION, type: 'event', session: session.id, event, args: shown, snapshot });
  }

  /**
   * Tells this page of an action the service refused by its local policy as the session
   * would tell a failed action: `<action>Error(message, code)` and `error(message, code, action)`
   * (the refusal's own words, which name the limit).
   */
  #refused(session: Session, action: 'open', error: HypervisorError): void {
    const snapshot = sessionSnapshot(session);
    const base = { v: PROTOCOL_VERSION, type: 'event', session: session.id, snapshot } as const;
    this.#send({ ...base, event: `${action}Error`, args: [error.message, error.code] });
    this.#send({ ...base, event: 'error', args: [error.message, error.code, action] });
  }

  #pushSnapshot(session: Session): void {
    const attached = this.#attached.get(session.id);
    if (!attached) return;
    const snapshot = sessionSnapshot(session);
    const json = JSON.stringify(snapshot);
    if (json === attached.sent) return;
    attached.sent = json;
    this.#send({ v: PROTOCOL_VERSION, type: 'snapshot', session: session.id, snapshot });
  }

  #fail(id: number | null, error: unknown, action?: string): void {
    this.#send({
      v: PROTOCOL_VERSION,
      type: 'error',
      id,
      error: wireError(error, { privileged: this.#trusted, ...(action ? { action } : {}) }),
    });
  }

  #send(frame: ServerFrame): void {
    if (this.#closed || this.#ws.readyState !== this.#ws.OPEN) return;
    if (this.#ws.bufferedAmount > this.#context.limits.maxBufferedBytes) {
      this.close(1008, 'the client does not read its frames');
      return;
    }
    this.#ws.send(JSON.stringify(frame));
  }

  #dispose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#gone.abort();
    this.#unwatchTimeline?.();
    this.#unwatchTimeline = undefined;
    for (const attached of this.#attached.values()) attached.detach();
    this.#attached.clear();
  }
}
