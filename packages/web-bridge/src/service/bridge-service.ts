import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { type Cvmweb, HypervisorError } from '@cvmweb/core';
import { WebSocketServer } from 'ws';
import {
  ConsentBroker as Broker,
  type ConsentBroker,
  type ConsentPrompter,
  type ConsentRequest,
} from '../consent/consent-broker.js';
import type { ConsentDecision } from '../consent/consent-decision.js';
import { testPageHtml } from '../page/test-page.js';
import { normalizeOrigin } from '../policy/normalize-origin.js';
import { PolicyStore } from '../policy/policy-store.js';
import { PROTOCOL_VERSION } from '../protocol/protocol-version.js';
import { BridgeConnection } from './bridge-connection.js';
import { bridgeVersion, clientBundle, consoleBundle, testPageBundle } from './client-bundle.js';
import { ConsentRoutes } from './consent-routes.js';
import { ConsoleEndpoint } from './console-endpoint.js';
import { CONSOLE_PATH } from './console-relay.js';
import { defaultFrameLimits, type FrameLimits } from './frame-limits.js';
import { isAllowedHost, ownOrigins } from './host-allow-list.js';
import { listen, pathOf, refuse, securityHeaders, send, sendText } from './http-responses.js';
import { KeyAttemptThrottle } from './key-attempt-throttle.js';
import { OriginReservations } from './origin-reservations.js';
import type { TimelineFeed } from './timeline-feed.js';

/** The default port of the service. */
export const DEFAULT_PORT = 5624;

/** How long {@link BridgeService.stop} waits for pages to answer the close frame before it cuts them off. */
const STOP_GRACE_MS = 500;

/** The path of the WebSocket endpoint. */
export const BRIDGE_PATH = '/bridge';

/** Options of {@link BridgeService}. */
export interface BridgeServiceOptions {
  /** The entry point whose sessions pages drive. The service does not dispose it. */
  cvmweb: Cvmweb;
  /** TCP port; default {@link DEFAULT_PORT}; 0 picks a free one (tests). */
  port?: number;
  /** Loopback addresses to listen on; default `127.0.0.1` and `::1` (skipped when the host has no IPv6). */
  addresses?: readonly string[];
  /** The policy store; default an in-memory default policy. */
  policy?: PolicyStore;
  /** A terminal prompt for consent. */
  prompter?: ConsentPrompter;
  /** Told about each consent request (the CLI prints the consent page's address). */
  onConsentRequest?: (request: ConsentRequest, consentUrl: string) => void;
  /** Told about each consent decision. */
  onConsentDecision?: (origin: string, decision: ConsentDecision) => void;
  /** How long a consent request waits; default 5 minutes. */
  consentTimeoutMs?: number;
  /** How long the consent page's buttons ignore clicks after it appears, ms; default 800 (double-click-jacking). */
  consentClickDelayMs?: number;
  /** Frame, rate and connection limits (defaults: {@link defaultFrameLimits}). */
  limits?: Partial<FrameLimits>;
  /** The version reported by `/info` and the hello frame. */
  version?: string;
  /**
   * The daemon's timeline for the `timeline` request (pass the `IdleDaemon`
   * attached to `cvmweb`). Without it the request answers `NOT_IMPLEMENTED`.
   */
  timeline?: TimelineFeed;
  /** How long a console token (the `console` request's answer) stays usable, ms; default 30 000. */
  consoleTokenTtlMs?: number;
}

/**
 * The loopback service: an HTTP server (`/info`, `/cvmweb.js`, the test page,
 * the consent page) and the WebSocket endpoint {@link BRIDGE_PATH}, bound to
 * loopback addresses only. Every request's `Host` header is checked first
 * (DNS rebinding gets 403), then its `Origin`.
 *
 * @example
 * ```ts
 * const cvmweb = await createCvmweb({ driver: mock(), stateDir });
 * const service = new BridgeService({ cvmweb, policy: await PolicyStore.open({ file }) });
 * await service.start();
 * console.log(`open ${service.url}`);
 * ```
 */
export class BridgeService {
  readonly #options: BridgeServiceOptions;
  readonly #limits: FrameLimits;
  readonly #servers: Server[] = [];
  readonly #sockets = new Set<Socket>();
  readonly #connections = new Set<BridgeConnection>();
  readonly #keyAttempts = new KeyAttemptThrottle();
  readonly #creating = new OriginReservations();
  readonly #opening = new OriginReservations();
  readonly #consoles: ConsoleEndpoint;
  #wss: WebSocketServer | undefined;
  #policy: PolicyStore | undefined;
  #broker: ConsentBroker | undefined;
  #consent: ConsentRoutes | undefined;
  #port = 0;
  #own: ReadonlySet<string> = new Set();

  constructor(options: BridgeServiceOptions) {
    this.#options = options;
    this.#limits = { ...defaultFrameLimits, ...options.limits };
    this.#consoles = new ConsoleEndpoint(
      options.consoleTokenTtlMs !== undefined ? { ttlMs: options.consoleTokenTtlMs } : {},
    );
  }

  /** The port the service listens on (after {@link BridgeService.start}). */
  get port(): number {
    return this.#port;
  }

  /** The test page's address, `http://127.0.0.1:PORT/`. */
  get url(): string {
    return `http://127.0.0.1:${this.#port}/`;
  }

  /** The consent page's address. */
  get consentUrl(): string {
    return `http://127.0.0.1:${this.#port}/consent`;
  }

  /** The consent broker (pending requests, decisions, revocation). */
  get consent(): ConsentBroker {
    if (!this.#broker) throw new HypervisorError('INVALID_STATE', 'the service is not started');
    return this.#broker;
  }

  /** The number of open consoles (console WebSockets relayed to a display). */
  get consoles(): number {
    return this.#consoles.size;
  }

  /** The number of open WebSocket connections. */
  get connections(): number {
    return this.#connections.size;
  }

  /**
   * Listens on the loopback addresses.
   *
   * @throws `HypervisorError` `IO` when the port is taken (details `{ port, address }`).
   */
  async start(): Promise<void> {
    const policy = this.#options.policy ?? (await PolicyStore.open());
    this.#policy = policy;
    this.#broker = new Broker({
      policy,
      ...(this.#options.consentTimeoutMs !== undefined ? { timeoutMs: this.#options.consentTimeoutMs } : {}),
      ...(this.#options.prompter ? { prompter: this.#options.prompter } : {}),
      onRequest: (request) => this.#options.onConsentRequest?.(request, this.consentUrl),
      ...(this.#options.onConsentDecision ? { onDecision: this.#options.onConsentDecision } : {}),
      onRevoke: (origin) => this.#consoles.revoke(origin),
    });
    this.#consent = new ConsentRoutes({
      broker: this.#broker,
      policy,
      isOwn: (origin) => this.#isOwn(origin),
      clickDelayMs: this.#options.consentClickDelayMs,
    });
    // maxPayload closes (1009) frames far above the limit; frames up to twice the limit get an error frame.
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: this.#limits.maxFrameBytes * 2 });
    const addresses = this.#options.addresses ?? ['127.0.0.1', '::1'];
    let port = this.#options.port ?? DEFAULT_PORT;
    for (const [index, address] of addresses.entries()) {
      const server = createServer((request, response) => this.#onRequest(request, response));
      server.on('upgrade', (request, socket, head) => this.#onUpgrade(request, socket as Socket, head));
      server.on('connection', (socket) => {
        this.#sockets.add(socket);
        socket.on('close', () => this.#sockets.delete(socket));
      });
      server.headersTimeout = 10_000;
      server.requestTimeout = 30_000;
      try {
        await listen(server, port, address);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (index > 0 && (code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT')) continue;
        await this.stop();
        throw new HypervisorError(
          'IO',
          `cannot listen on ${address} port ${port}: ${code ?? String(error)}`,
          {
            cause: error,
            details: { port, address },
          },
        );
      }
      if (port === 0) port = (server.address() as { port: number }).port;
      this.#servers.push(server);
    }
    this.#port = port;
    this.#own = ownOrigins(port);
  }

  /**
   * Stops listening, closes every connection (code 1001; a client that does
   * not answer within half a second is cut off) and refuses waiting consent
   * requests. Sessions and their VMs are left as they are.
   */
  async stop(): Promise<void> {
    this.#broker?.close();
    const consoles = this.#consoles.close();
    const connections = [...this.#connections];
    this.#connections.clear();
    for (const connection of connections) connection.close();
    // Pages answer the close frame at once; a client that does not is cut off after a short
    // grace, as are open HTTP requests, so that closing the servers never waits for them.
    await Promise.race([
      Promise.all([...connections.map((connection) => connection.closed), consoles]),
      new Promise((resolve) => setTimeout(resolve, STOP_GRACE_MS).unref()),
    ]);
    for (const connection of connections) connection.terminate();
    this.#wss?.close();
    for (const server of this.#servers) server.closeAllConnections();
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    await Promise.all(
      this.#servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
          }),
      ),
    );
    this.#servers.length = 0;
  }

  #isOwn(origin: string): boolean {
    return this.#own.has(origin);
  }

  /** The page origin of a request: `undefined` when absent, `null` when present but not acceptable. */
  #origin(request: IncomingMessage): string | null | undefined {
    const header = request.headers.origin;
    if (header === undefined) return undefined;
    const origin = normalizeOrigin(header);
    if (!origin) return null;
    if (!this.#isOwn(origin) && this.#policy!.decision(origin) === 'deny') return null;
    return origin;
  }

  #onUpgrade(request: IncomingMessage, socket: Socket, head: Buffer): undefined {
    socket.on('error', () => socket.destroy());
    if (!isAllowedHost(request.headers.host, this.#port)) return refuse(socket, 403, 'Forbidden host');
    const origin = this.#origin(request);
    if (!origin) return refuse(socket, 403, 'Forbidden origin');
    if (pathOf(request) === CONSOLE_PATH) return void this.#consoles.upgrade(request, socket, head, origin);
    if (pathOf(request) !== BRIDGE_PATH) return refuse(socket, 404, 'Not found');
    if (this.#connections.size >= this.#limits.maxConnections)
      return refuse(socket, 503, 'Too many connections');
    this.#wss!.handleUpgrade(request, socket, head, (ws) => {
      const connection = new BridgeConnection(ws, origin, {
        cvmweb: this.#options.cvmweb,
        broker: this.#broker!,
        policy: this.#policy!,
        limits: this.#limits,
        version: this.#options.version ?? bridgeVersion(),
        consentUrl: this.consentUrl,
        isOwnOrigin: (o) => this.#isOwn(o),
        timeline: this.#options.timeline,
        creating: this.#creating,
        opening: this.#opening,
        keyAttempts: this.#keyAttempts,
        consoleTokens: this.#consoles.tokens,
      });
      this.#connections.add(connection);
      ws.on('close', () => this.#connections.delete(connection));
      const requested = new URL(request.url ?? '/', 'http://x').searchParams.get('v');
      if (requested !== null && requested !== String(PROTOCOL_VERSION)) connection.refuseProtocol(requested);
    });
  }

  #onRequest(request: IncomingMessage, response: ServerResponse): void {
    try {
      this.#route(request, response);
    } catch {
      if (!response.headersSent) sendText(response, 500, 'Internal error');
    }
  }

  #route(request: IncomingMessage, response: ServerResponse): undefined {
    if (!isAllowedHost(request.headers.host, this.#port)) {
      return sendText(response, 403, 'Forbidden host');
    }
    const origin = this.#origin(request);
    const path = pathOf(request);
    if (origin === null) {
      // A site the person denied may read that much from /info, so its client can say so.
      const denied = normalizeOrigin(request.headers.origin);
      const cors: Record<string, string> =
        denied && path === '/info' ? { 'Access-Control-Allow-Origin': denied, Vary: 'Origin' } : {};
      return sendText(response, 403, 'Forbidden origin', cors);
    }
    const method = request.method ?? 'GET';
    // CORS (never a wildcard) only for pages that may use the service, and only for the public resources.
    const cors: Record<string, string> =
      origin && !this.#isOwn(origin) && (path === '/info' || path === '/cvmweb.js' || path === '/console.js')
        ? { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' }
        : { Vary: 'Origin' };
    if (method === 'OPTIONS') {
      if (
        !origin ||
        this.#isOwn(origin) ||
        !cors['Access-Control-Allow-Origin'] ||
        this.#broker!.blockedFor(origin) > 0
      ) {
        return sendText(response, 403, 'Forbidden');
      }
      const preflight: Record<string, string> = {
        ...cors,
        'Access-Control-Allow-Methods': 'GET',
        'Access-Control-Max-Age': '600',
      };
      if (request.headers['access-control-request-private-network'] === 'true') {
        preflight['Access-Control-Allow-Private-Network'] = 'true';
      }
      if (request.headers['access-control-request-local-network'] === 'true') {
        preflight['Access-Control-Allow-Local-Network'] = 'true';
      }
      response.writeHead(204, { ...securityHeaders, ...preflight });
      response.end();
      return;
    }
    if (method === 'POST') {
      if (path === '/consent' || path === '/consent/revoke')
        return this.#consent!.post(request, response, path, origin);
      return sendText(response, 405, 'Method not allowed', { Allow: 'GET' });
    }
    if (method !== 'GET' && method !== 'HEAD') {
      return sendText(response, 405, 'Method not allowed', { Allow: 'GET' });
    }
    // CSP has no IPv6 literals (Chromium rejects `http://[::1]:port` as an invalid source); a page
    // loaded from [::1] reaches the service as 'self'.
    const own = `http://127.0.0.1:${this.#port} ws://127.0.0.1:${this.#port} http://localhost:${this.#port} ws://localhost:${this.#port}`;
    switch (path) {
      case '/info':
        return send(
          response,
          200,
          'application/json',
          JSON.stringify({
            service: 'cvmweb-bridge',
            protocol: PROTOCOL_VERSION,
            version: this.#options.version ?? bridgeVersion(),
            hypervisorName: this.#options.cvmweb.hypervisorName,
            hypervisorVersion: this.#options.cvmweb.hypervisorVersion,
            fallback: this.#options.cvmweb.fallback,
          }),
          cors,
        );
      case '/cvmweb.js': {
        const bundle = clientBundle();
        if (!bundle) return sendText(response, 503, 'The client bundle is not built');
        return send(response, 200, 'text/javascript; charset=utf-8', bundle, {
          ...cors,
          'Cross-Origin-Resource-Policy': 'cross-origin',
        });
      }
      case '/':
        return send(response, 200, 'text/html; charset=utf-8', testPageHtml, {
          'Content-Security-Policy': `default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self' ${own}; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`,
          'X-Frame-Options': 'DENY',
        });
      case '/console.js': {
        // The console's module (noVNC), loaded with import() only when a page opens a console.
        const module = consoleBundle();
        if (!module) return sendText(response, 503, 'The console module is not built');
        return send(response, 200, 'text/javascript; charset=utf-8', module, {
          ...cors,
          'Cross-Origin-Resource-Policy': 'cross-origin',
        });
      }
      case '/test-page.js': {
        const script = testPageBundle();
        if (!script) return sendText(response, 503, 'The test page is not built');
        return send(response, 200, 'text/javascript; charset=utf-8', script);
      }
      case '/consent':
        return this.#consent!.page(
          response,
          new URL(request.url ?? '/', 'http://x').searchParams.get('notice'),
        );
      default:
        return sendText(response, 404, 'Not found');
    }
  }
}
