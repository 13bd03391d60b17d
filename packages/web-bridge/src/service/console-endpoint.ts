import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { ConsoleRelay, consoleCloseCode } from './console-relay.js';
import { ConsoleTokens, type ConsoleTokensOptions } from './console-tokens.js';

/** A console page sends keys, pointer moves and clipboard text: small frames. */
const MAX_CONSOLE_FRAME_BYTES = 1024 * 1024;

/**
 * The service's console endpoint ({@link CONSOLE_PATH}): the tokens the `console` request
 * issues, and the consoles open now. @internal
 */
export class ConsoleEndpoint {
  /** The tokens; connections issue them, {@link ConsoleEndpoint.upgrade} consumes them. */
  readonly tokens: ConsoleTokens;
  readonly #relays = new Set<ConsoleRelay>();
  readonly #wss = new WebSocketServer({ noServer: true, maxPayload: MAX_CONSOLE_FRAME_BYTES });

  constructor(options: ConsoleTokensOptions = {}) {
    this.tokens = new ConsoleTokens(options);
  }

  /** The consoles open now. */
  get size(): number {
    return this.#relays.size;
  }

  /**
   * Takes a console WebSocket from `origin` (already checked against the policy): its token is
   * consumed at once; a token that is unknown, used, expired, or issued to another origin closes
   * the socket with 4010 (`NOT_ALLOWED`).
   */
  upgrade(request: IncomingMessage, socket: Socket, head: Buffer, origin: string): void {
    const token = new URL(request.url ?? '/', 'http://x').searchParams.get('token');
    const grant = this.tokens.consume(token);
    this.#wss.handleUpgrade(request, socket, head, (ws) => {
      if (!grant || grant.origin !== origin) {
        ws.close(consoleCloseCode(-10), 'NOT_ALLOWED');
        return;
      }
      const relay = new ConsoleRelay(ws, grant);
      this.#relays.add(relay);
      void relay.closed.then(() => this.#relays.delete(relay));
    });
  }

  /**
   * The person revoked `origin`'s decision: its unused tokens are forgotten and its open consoles
   * closed with 4010 (`NOT_ALLOWED`).
   */
  revoke(origin: string): void {
    this.tokens.forget(origin);
    for (const relay of this.#relays) {
      if (relay.origin === origin) relay.close(consoleCloseCode(-10), 'the person revoked this site');
    }
  }

  /** Forgets every token and closes every console (1001); resolves once their pages answered. */
  close(): Promise<void> {
    this.tokens.clear();
    const relays = [...this.#relays];
    for (const relay of relays) relay.close();
    this.#wss.close();
    return Promise.all(relays.map((relay) => relay.closed)).then(() => undefined);
  }
}
