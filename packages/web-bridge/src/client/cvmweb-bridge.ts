import { HypervisorError } from '@cvmweb/core/browser';
import { PROTOCOL_VERSION } from '../protocol/protocol-version.js';
import type {
  HelloFrame,
  ServerFrame,
  SessionSnapshot,
  TimelineEntry,
  TimelineResult,
} from '../protocol/server-frame.js';
import { ClientEmitter } from './client-emitter.js';
import type { ConnectOptions } from './connect-options.js';
import { CVMWebDaemonAccess, type DaemonState } from './cvmweb-daemon-access.js';
import { CVMWebSession } from './cvmweb-session.js';
import { openSocket } from './open-socket.js';
import type { WebSocketLike } from './web-socket-like.js';
import { wireToError } from './wire-to-error.js';

/** The events of a {@link CVMWebBridge}. */
export interface CVMWebBridgeEvents {
  /** The connection to the service was lost; the bridge reconnects (unless `reconnect: false`). */
  disconnect: [];
  /** The connection is back and every session was resynchronised. */
  reconnect: [];
  /** A `requestSession` waits for the person's approval on the consent page at `consentUrl`. */
  consentRequired: [consentUrl: string];
  /** A new entry of the daemon's timeline, after {@link CVMWebBridge.watchTimeline}. */
  timeline: [entry: TimelineEntry];
}

/** A session as a privileged origin's {@link CVMWebBridge.listSessions} sees it (no secrets). */
export interface SessionSummary {
  /** Session id. */
  readonly id: string;
  /** The origin that owns it (`local` for Node applications). */
  readonly scope: string;
  /** Its name. */
  readonly name: string;
  /** Its state. */
  readonly state: number;
  /** Hibernated. */
  readonly hibernated: boolean;
}

interface Pending {
  resolve: (frame: { value: unknown; snapshot?: SessionSnapshot }) => void;
  reject: (error: HypervisorError) => void;
}

const OPEN = 1;

/**
 * The connection to the local cvmweb service: the original plugin's object, made
 * by {@link connect}. It reconnects with back-off when the service restarts
 * and resynchronises its sessions (by name and key) without asking the person again.
 */
export class CVMWebBridge extends ClientEmitter<CVMWebBridgeEvents> {
  readonly #options: ConnectOptions;
  readonly #base: string;
  readonly #sessions = new Map<string, { session: CVMWebSession; name: string; key: string }>();
  readonly #pending = new Map<number, Pending>();
  #ws: WebSocketLike | undefined;
  #hello: HelloFrame;
  #nextId = 1;
  #closed = false;
  #attempt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #watching = false;
  #lastEntryAt = Number.NEGATIVE_INFINITY;

  /** @internal Made by {@link connect}, the only way users get one. */
  static create(options: ConnectOptions, base: string, ws: WebSocketLike, hello: HelloFrame): CVMWebBridge {
    return new CVMWebBridge(options, base, ws, hello);
  }

  // Private: users call connect(), and the shipped .d.ts says so.
  private constructor(options: ConnectOptions, base: string, ws: WebSocketLike, hello: HelloFrame) {
    super();
    this.#options = options;
    this.#base = base;
    this.#hello = hello;
    this.#adopt(ws);
  }

  /** The hypervisor's name (original plugin: `hypervisorName`), such as `kvm`, `virtualbox` or `mock`. */
  get hypervisorName(): string {
    return this.#hello.hypervisorName;
  }
  /** The hypervisor's version (original plugin: `hypervisorVersion`). */
  get hypervisorVersion(): string {
    return this.#hello.hypervisorVersion;
  }
  /** The service's version. */
  get version(): string {
    return this.#hello.version;
  }
  /** True when the service runs on the simulated (mock) hypervisor because no real one is usable. */
  get fallback(): boolean {
    return this.#hello.fallback;
  }
  /** This page's origin as the service saw it: the scope of its sessions. */
  get origin(): string {
    return this.#hello.origin;
  }
  /** Whether this origin is privileged in the service's policy. */
  get privileged(): boolean {
    return this.#hello.privileged;
  }
  /** True while the WebSocket is open. */
  get connected(): boolean {
    return this.#ws?.readyState === OPEN;
  }

  /**
   * Gets the session `name` of this page's origin (original plugin: `requestSession`).
   * The first request of a name makes the key its owner's; later requests
   * need the same key (`PASSWORD_DENIED`, -20). The first session of an origin
   * waits for the person's approval (`consentRequired` fires); a refusal
   * rejects with `NOT_ALLOWED` (-10).
   *
   * With callbacks (the original plugin's form) it returns 1 (`SCHEDULED`) and calls
   * `onSuccess(session)` or `onFailure(errorCode)`.
   */
  requestSession(name: string, secretKey: string): Promise<CVMWebSession>;
  requestSession(
    name: string,
    secretKey: string,
    onSuccess: (session: CVMWebSession) => void,
    onFailure?: (errorCode: number) => void,
  ): number;
  requestSession(
    name: string,
    secretKey: string,
    onSuccess?: (session: CVMWebSession) => void,
    onFailure?: (errorCode: number) => void,
  ): Promise<CVMWebSession> | number {
    const promise = this.#requestSession(name, secretKey);
    if (!onSuccess) return promise;
    promise.then(onSuccess, (error: HypervisorError) => onFailure?.(error.code));
    return 1;
  }

  /**
   * Access to the daemon (original plugin: `requestDaemonAccess`): everyone reads its
   * state; privileged origins also control it. Rejects with `NOT_IMPLEMENTED`
   * (-100) when the service runs no daemon. The callback form returns 1.
   */
  requestDaemonAccess(): Promise<CVMWebDaemonAccess>;
  requestDaemonAccess(
    onSuccess: (daemon: CVMWebDaemonAccess) => void,
    onFailure?: (errorCode: number) => void,
  ): number;
  requestDaemonAccess(
    onSuccess?: (daemon: CVMWebDaemonAccess) => void,
    onFailure?: (errorCode: number) => void,
  ): Promise<CVMWebDaemonAccess> | number {
    const promise = this.#request({ op: 'requestDaemonAccess' }).then(({ value }) =>
      CVMWebDaemonAccess.create(value as DaemonState, (action, seconds) =>
        this.#request(
          seconds === undefined ? { op: 'daemon', action } : { op: 'daemon', action, seconds },
        ).then(() => undefined),
      ),
    );
    if (!onSuccess) return promise;
    promise.then(onSuccess, (error: HypervisorError) => onFailure?.(error.code));
    return 1;
  }

  /**
   * The daemon's timeline at or after `since` (ms since the epoch; default all
   * it keeps, about the last 15 minutes): system idle/active changes for every
   * origin; the state, cap and daemon actions of this page's own sessions (those
   * it requested), or of every session for a privileged origin. Rejects with
   * `NOT_IMPLEMENTED` (-100) when the service runs no daemon.
   */
  async timeline(since?: number): Promise<TimelineResult> {
    const { value } = await this.#request(
      since === undefined ? { op: 'timeline' } : { op: 'timeline', since },
    );
    return value as TimelineResult;
  }

  /**
   * Like {@link CVMWebBridge.timeline}, and from then on every new entry fires
   * the `timeline` event (also after a reconnection: entries missed meanwhile
   * are fired then). Entries of a session appear once the page requested it.
   */
  async watchTimeline(since?: number): Promise<TimelineResult> {
    const fields = since === undefined ? {} : { since };
    const { value } = await this.#request({ op: 'timeline', subscribe: true, ...fields });
    const result = value as TimelineResult;
    this.#watching = true;
    this.#noteEntries(result.events);
    return result;
  }

  /** Stops the `timeline` events. */
  async unwatchTimeline(): Promise<void> {
    this.#watching = false;
    await this.#request({ op: 'timeline', since: Number.MAX_SAFE_INTEGER, subscribe: false });
  }

  /** Privileged origins: every session of the service, of every origin. Others get `NOT_ALLOWED` (-10). */
  async listSessions(): Promise<SessionSummary[]> {
    return (await this.#request({ op: 'listSessions' })).value as SessionSummary[];
  }

  /** Closes the connection for good (sessions and their VMs stay as they are). */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#ws?.close(1000, 'closed by the page');
    this.#failPending();
  }

  async #requestSession(name: string, key: string): Promise<CVMWebSession> {
    const { value } = await this.#request({ op: 'requestSession', name, key });
    const snapshot = value as SessionSnapshot;
    const known = this.#sessions.get(snapshot.id);
    if (known) {
      known.session.applySnapshot(snapshot);
      return known.session;
    }
    const session = CVMWebSession.create(
      {
        base: this.#base,
        call: (id, op, fields) => {
          // A released session is this page's no more: a reconnection does not re-attach it.
          if (op === 'release' && this.#sessions.get(id)?.session === session) this.#sessions.delete(id);
          return this.#request({ op, session: id, ...fields });
        },
      },
      snapshot,
    );
    this.#sessions.set(snapshot.id, { session, name, key });
    return session;
  }

  #request(fields: Record<string, unknown>): Promise<{ value: unknown; snapshot?: SessionSnapshot }> {
    const ws = this.#ws;
    if (!ws || ws.readyState !== OPEN) {
      return Promise.reject(
        new HypervisorError('IO', 'not connected to the cvmweb service', {
          details: { reason: 'disconnected' },
        }),
      );
    }
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ v: PROTOCOL_VERSION, id, ...fields }));
    });
  }

  #adopt(ws: WebSocketLike): void {
    this.#ws = ws;
    ws.addEventListener('message', (event) => {
      if (this.#ws === ws) this.#onFrame(event.data);
    });
    ws.addEventListener('close', () => {
      if (this.#ws === ws) this.#onClose();
    });
  }

  #onFrame(data: unknown): void {
    let frame: ServerFrame;
    try {
      frame = JSON.parse(String(data)) as ServerFrame;
    } catch {
      return;
    }
    switch (frame.type) {
      case 'hello':
        this.#hello = frame;
        return;
      case 'result': {
        const pending = this.#pending.get(frame.id);
        this.#pending.delete(frame.id);
        pending?.resolve(frame);
        return;
      }
      case 'error': {
        if (frame.id === null) return;
        const pending = this.#pending.get(frame.id);
        this.#pending.delete(frame.id);
        pending?.reject(wireToError(frame.error));
        return;
      }
      case 'event': {
        const known = this.#sessions.get(frame.session);
        if (!known) return;
        known.session.applySnapshot(frame.snapshot);
        known.session.dispatch(frame.event, frame.args);
        return;
      }
      case 'consent':
        this.#options.onConsentRequired?.(frame.url);
        this.fire('consentRequired', frame.url);
        return;
      case 'snapshot':
        this.#sessions.get(frame.session)?.session.applySnapshot(frame.snapshot);
        return;
      case 'timeline':
        if (!this.#watching) return;
        this.#noteEntries([frame.event]);
        this.fire('timeline', frame.event);
        return;
    }
  }

  #noteEntries(entries: readonly TimelineEntry[]): void {
    for (const entry of entries) this.#lastEntryAt = Math.max(this.#lastEntryAt, entry.at);
  }

  #onClose(): void {
    this.#failPending();
    if (this.#closed) return;
    this.fire('disconnect');
    if (this.#options.reconnect !== false) this.#scheduleReconnect();
  }

  #failPending(): void {
    const error = new HypervisorError('IO', 'the connection to the cvmweb service was lost', {
      details: { reason: 'disconnected' },
    });
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }

  #scheduleReconnect(): void {
    const initial = this.#options.initialBackoffMs ?? 250;
    const max = this.#options.maxBackoffMs ?? 5000;
    const delay = Math.min(max, initial * 2 ** this.#attempt) * (0.8 + Math.random() * 0.4);
    this.#attempt++;
    this.#timer = setTimeout(() => void this.#reconnect(), delay);
  }

  async #reconnect(): Promise<void> {
    if (this.#closed) return;
    let opened: { ws: WebSocketLike; hello: HelloFrame };
    try {
      opened = await openSocket(this.#options, this.#base);
    } catch {
      this.#scheduleReconnect();
      return;
    }
    if (this.#closed) {
      opened.ws.close(1000);
      return;
    }
    this.#attempt = 0;
    this.#hello = opened.hello;
    this.#adopt(opened.ws);
    // Re-attach every session by name and key: the service asks nobody for sessions it knows.
    await Promise.all(
      [...this.#sessions.values()].map(async ({ session, name, key }) => {
        try {
          const { value } = await this.#request({ op: 'requestSession', name, key });
          session.applySnapshot(value as SessionSnapshot, true);
        } catch (error) {
          const failure = error as HypervisorError;
          session.dispatch('error', [failure.message, failure.code, 'session']);
        }
      }),
    );
    if (this.#watching && this.connected) {
      try {
        const since = this.#lastEntryAt;
        const { value } = await this.#request({
          op: 'timeline',
          subscribe: true,
          ...(Number.isFinite(since) ? { since } : {}),
        });
        for (const entry of (value as TimelineResult).events) {
          if (entry.at <= since) continue;
          this.#noteEntries([entry]);
          this.fire('timeline', entry);
        }
      } catch {
        // No daemon any more (or the connection dropped again): the next reconnection retries.
      }
    }
    if (this.connected) this.fire('reconnect');
  }
}
