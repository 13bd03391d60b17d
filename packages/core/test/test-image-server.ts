import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How the {@link TestImageServer} serves one path. */
export interface TestRoute {
  readonly body: Uint8Array | string;
  /** Send this many bytes of the response, then wait for {@link TestRoute.release} before the rest. */
  readonly holdAfter?: number;
  /** Lets a held response go on; a response held without one waits until the client goes. */
  readonly release?: Promise<void>;
  /** Answer `Range` requests with the whole file (200), like servers without range support. */
  readonly ignoreRange?: boolean;
  /** Answer with this status and no body. */
  readonly status?: number;
}

/** A request the {@link TestImageServer} received. */
export interface TestRequest {
  readonly path: string;
  readonly range: string | undefined;
  readonly status: number;
}

/**
 * A loopback HTTP server for image-cache tests (not part of the public API): serves byte
 * bodies with `Range` support, optionally holding a response part-way until the test lets it
 * go on, and records every request.
 */
export class TestImageServer {
  readonly routes = new Map<string, TestRoute>();
  readonly requests: TestRequest[] = [];
  readonly #server: Server;
  #base = '';

  constructor() {
    this.#server = createServer((request, response) => this.#handle(request, response));
  }

  /** Starts listening on 127.0.0.1 on a free port. */
  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    const { port } = this.#server.address() as AddressInfo;
    this.#base = `http://127.0.0.1:${port}`;
    return this;
  }

  /** The absolute URL of `path`. */
  url(path: string): string {
    return `${this.#base}${path}`;
  }

  /** The requests of `path`. */
  requestsOf(path: string): TestRequest[] {
    return this.requests.filter((request) => request.path === path);
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #handle(request: IncomingMessage, response: ServerResponse): void {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    const route = this.routes.get(path);
    const range = request.headers.range;
    const record = (status: number) => this.requests.push({ path, range, status });
    if (route === undefined || route.status !== undefined) {
      const status = route?.status ?? 404;
      record(status);
      response.writeHead(status).end();
      return;
    }
    const body = typeof route.body === 'string' ? Buffer.from(route.body) : Buffer.from(route.body);
    let start = 0;
    const match = /^bytes=(\d+)-$/.exec(range ?? '');
    if (match?.[1] !== undefined && !route.ignoreRange) {
      start = Number(match[1]);
      if (start >= body.length) {
        record(416);
        response.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
        return;
      }
      record(206);
      response.writeHead(206, {
        'content-length': body.length - start,
        'content-range': `bytes ${start}-${body.length - 1}/${body.length}`,
        'accept-ranges': 'bytes',
      });
    } else {
      record(200);
      response.writeHead(200, { 'content-length': body.length, 'accept-ranges': 'bytes' });
    }
    const rest = body.subarray(start);
    if (route.holdAfter === undefined) {
      response.end(rest);
      return;
    }
    response.write(rest.subarray(0, route.holdAfter));
    void (route.release ?? new Promise<void>(() => {})).then(() => {
      if (!response.destroyed) response.end(rest.subarray(route.holdAfter));
    });
  }
}
