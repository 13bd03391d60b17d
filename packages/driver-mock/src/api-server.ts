import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { MockVmInfo } from './mock-vm-info.js';

/** One request to a VM's API endpoint, as a {@link MockApiResponder} sees it. */
export interface MockApiRequest {
  /** The HTTP method. */
  readonly method: string;
  /** The request target, such as `/` or `/status?x=1`. */
  readonly url: string;
  /** The request headers. */
  readonly headers: IncomingHttpHeaders;
  /** The VM answering. */
  readonly vm: MockVmInfo;
}

/** A responder's answer: a body (status 200, `text/plain`), or a full response. */
export type MockApiResponse =
  | string
  | {
      /** The HTTP status (default 200). */
      readonly status?: number;
      /** Response headers besides those Node adds. */
      readonly headers?: Readonly<Record<string, string>>;
      /** The response body (default empty). */
      readonly body?: string;
    };

/** Answers the requests to a running VM's API endpoint, in place of the guest's web server. */
export type MockApiResponder = (request: MockApiRequest) => MockApiResponse | Promise<MockApiResponse>;

/** A loopback HTTP server standing in for a guest's port 80. */
export class ApiServer {
  readonly #server: Server;
  #port = 0;
  #ready: Promise<number> = Promise.resolve(0);
  #closed = false;

  constructor(handler: (request: IncomingMessage, response: ServerResponse) => void) {
    this.#server = createServer(handler);
    // A forgotten running VM must not keep a test process or script alive.
    this.#server.unref();
  }

  /** The bound port, 0 before {@link ApiServer.listen}. */
  get port(): number {
    return this.#port;
  }

  /** Settles when the pending {@link ApiServer.listen} does. */
  get ready(): Promise<number> {
    return this.#ready;
  }

  /** Listens on 127.0.0.1, on `preferred` when it is free, else on any port. */
  listen(preferred: number): Promise<number> {
    this.#ready = this.#listen(preferred);
    return this.#ready;
  }

  async #listen(preferred: number): Promise<number> {
    try {
      this.#port = await this.#listenOn(preferred);
    } catch (error) {
      if (preferred === 0) throw error;
      this.#port = await this.#listenOn(0);
    }
    if (this.#closed) {
      await this.#shut();
      throw new Error('the endpoint was closed while it was opening');
    }
    return this.#port;
  }

  /** Stops listening and drops every connection; a pending {@link ApiServer.listen} then fails. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#ready.catch(() => undefined);
    await this.#shut();
  }

  #shut(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.#server.listening) return resolve();
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  #listenOn(port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => {
        this.#server.off('listening', onListening);
        reject(error);
      };
      const onListening = () => {
        this.#server.off('error', onError);
        const address = this.#server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      };
      this.#server.once('error', onError);
      this.#server.once('listening', onListening);
      this.#server.listen(port, '127.0.0.1');
    });
  }
}
