import type { WebSocketLike } from './web-socket-like.js';

/** Options of {@link connect}. */
export interface ConnectOptions {
  /**
   * The service's address, `http://127.0.0.1:5624` by default (or the address
   * `/cvmweb.js` was loaded from).
   */
  url?: string;
  /** Called when a `requestSession` waits for the person's approval, with the consent page's address to show. */
  onConsentRequired?: (consentUrl: string) => void;
  /** Reconnect after the service restarts (default true), resynchronising sessions without asking again. */
  reconnect?: boolean;
  /** First reconnect delay, ms (default 250); it doubles up to {@link ConnectOptions.maxBackoffMs}. */
  initialBackoffMs?: number;
  /** Longest reconnect delay, ms (default 5000). */
  maxBackoffMs?: number;
  /** How long `connect` waits for the service, ms (default 5000). */
  timeoutMs?: number;
  /**
   * Makes the WebSocket (default `new WebSocket(url)`); Node programs pass one
   * from the `ws` package with an `origin`.
   */
  createWebSocket?: (url: string) => WebSocketLike;
  /**
   * Fetches `/info` first with `targetAddressSpace: 'loopback'` (Chromium's
   * Local Network Access). Default `globalThis.fetch`; `false` skips it.
   */
  fetch?: typeof fetch | false;
}
