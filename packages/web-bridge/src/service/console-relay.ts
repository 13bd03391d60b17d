import { connect, type Socket } from 'node:net';
import { type ErrorCodeValue, HypervisorError, SessionState, toHypervisorError } from '@cvmweb/core';
import { authenticateVnc, RFB_SECURITY_NONE, RFB_VERSION } from '@cvmweb/core/node';
import type { RawData, WebSocket } from 'ws';
import type { ConsoleGrant } from './console-tokens.js';

/** The path of the console WebSocket endpoint (`/console?token=…`). */
export const CONSOLE_PATH = '/console';

/** How long the page has to finish its side of the RFB handshake, ms. */
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Bytes queued towards the page above which the display is no longer read. */
const HIGH_WATER_BYTES = 1024 * 1024;
/** Bytes queued towards the page below which the display is read again. */
const LOW_WATER_BYTES = 256 * 1024;

/**
 * The WebSocket close code telling a page why its console was refused or ended: 4000 minus the
 * error code (`NOT_ALLOWED` -10 → 4010, `INVALID_STATE` -8 → 4008, `NOT_SUPPORTED` -11 → 4011).
 */
export function consoleCloseCode(code: ErrorCodeValue): number {
  return 4000 - code;
}

/**
 * One console: a page's WebSocket relayed to a running VM's VNC display on 127.0.0.1. The
 * service authenticates to the display itself (the VNC password never leaves it) and offers the
 * page RFB 3.8 with security type None; after the handshake the bytes flow unchanged both ways
 * (binary frames), with backpressure on both sides. Both ends close together, and the console
 * closes when the session leaves Started/Paused, when the page's bridge connection ends
 * (`grant.signal`) or the service stops. @internal
 */
export class ConsoleRelay {
  readonly #ws: WebSocket;
  readonly #grant: ConsoleGrant;
  readonly #stop = new AbortController();
  readonly #cleanups: (() => void)[] = [];
  #socket: Socket | undefined;
  #closed = false;
  /** Page bytes not consumed yet during the handshake. */
  #pending = Buffer.alloc(0);
  #wake: (() => void) | undefined;
  #relaying = false;
  #onClosed: () => void = () => undefined;
  /** Settles when both ends are closed. */
  readonly closed = new Promise<void>((resolve) => {
    this.#onClosed = resolve;
  });

  constructor(ws: WebSocket, grant: ConsoleGrant) {
    this.#ws = ws;
    this.#grant = grant;
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data, isBinary) => this.#fromPage(data, isBinary));
    ws.on('close', () => this.#dispose());
    ws.on('error', () => this.#dispose());
    const onGone = () => this.close(1001, 'the bridge connection ended');
    grant.signal.addEventListener('abort', onGone, { once: true });
    this.#cleanups.push(() => grant.signal.removeEventListener('abort', onGone));
    this.#cleanups.push(
      grant.session.on('stateChanged', (state) => {
        if (state !== SessionState.Started && state !== SessionState.Paused) {
          this.close(1000, 'the virtual machine stopped');
        }
      }),
    );
    if (grant.signal.aborted) onGone();
    else void this.#run();
  }

  /** The origin the console was granted to. */
  get origin(): string {
    return this.#grant.origin;
  }

  /** Closes the page's WebSocket (`code`, `reason`) and the display connection. */
  close(code = 1001, reason = 'the service is stopping'): void {
    if (this.#closed) return;
    if (this.#ws.readyState === this.#ws.OPEN || this.#ws.readyState === this.#ws.CONNECTING) {
      this.#ws.close(code, reason.slice(0, 120));
    }
    this.#dispose();
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    const timer = setTimeout(
      () => this.#fail(new HypervisorError('IO', 'the console handshake took too long')),
      HANDSHAKE_TIMEOUT_MS,
    );
    try {
      const endpoint = await this.#grant.session.displayEndpoint({ signal });
      if (endpoint.protocol !== 'vnc') {
        throw new HypervisorError(
          'NOT_SUPPORTED',
          `the console shows VNC displays, not ${endpoint.protocol}`,
        );
      }
      if (endpoint.host !== '127.0.0.1' && endpoint.host !== '::1') {
        throw new HypervisorError('NOT_ALLOWED', 'the display does not listen on a loopback address');
      }
      const socket = await this.#connect(endpoint.host, endpoint.port, signal);
      const fromDisplay = await authenticateVnc(socket, endpoint.password, { signal });
      // The page's side: RFB 3.8 with security type None (the service authenticated already).
      this.#ws.send(Buffer.from(RFB_VERSION, 'latin1'));
      const version = (await this.#read(12)).toString('latin1');
      if (version !== RFB_VERSION) throw new HypervisorError('INVALID_USAGE', 'the console speaks RFB 3.8');
      this.#ws.send(Buffer.from([1, RFB_SECURITY_NONE]));
      if ((await this.#read(1))[0] !== RFB_SECURITY_NONE) {
        throw new HypervisorError('INVALID_USAGE', 'the console offers security type None only');
      }
      this.#ws.send(Buffer.from([0, 0, 0, 0]));
      clearTimeout(timer);
      this.#relay(socket, fromDisplay);
    } catch (error) {
      clearTimeout(timer);
      this.#fail(error);
    }
  }

  #connect(host: string, port: number, signal: AbortSignal): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port });
      this.#socket = socket;
      socket.setNoDelay(true);
      socket.once('connect', () => {
        socket.off('error', reject);
        socket.on('error', () => this.close(1011, 'the display connection failed'));
        resolve(socket);
      });
      socket.once('error', (error) =>
        reject(new HypervisorError('IO', 'cannot connect to the display', { cause: error })),
      );
      socket.once('close', () => this.close(1000, 'the display closed'));
      signal.addEventListener('abort', () => socket.destroy(), { once: true });
    });
  }

  /** Starts relaying bytes both ways, with backpressure on each side. */
  #relay(socket: Socket, fromDisplay: Buffer): void {
    if (this.#closed) return;
    this.#relaying = true;
    if (fromDisplay.length > 0) this.#ws.send(fromDisplay);
    if (this.#pending.length > 0) socket.write(this.#pending);
    this.#pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      if (this.#closed) return;
      this.#ws.send(chunk, { binary: true }, () => {
        if (socket.isPaused() && this.#ws.bufferedAmount < LOW_WATER_BYTES) socket.resume();
      });
      if (this.#ws.bufferedAmount > HIGH_WATER_BYTES) socket.pause();
    });
    socket.on('drain', () => {
      if (this.#ws.isPaused) this.#ws.resume();
    });
  }

  #fromPage(data: RawData, isBinary: boolean): void {
    if (this.#closed) return;
    if (!isBinary) {
      this.close(1003, 'the console takes binary frames');
      return;
    }
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer);
    if (this.#relaying) {
      if (!this.#socket!.write(bytes)) this.#ws.pause();
      return;
    }
    this.#pending = Buffer.concat([this.#pending, bytes]);
    if (this.#pending.length > 4096) {
      this.close(1009, 'too many bytes before the handshake ended');
      return;
    }
    this.#wake?.();
  }

  /** The next `n` bytes the page sent during the handshake. */
  async #read(n: number): Promise<Buffer> {
    while (this.#pending.length < n) {
      if (this.#closed) throw new HypervisorError('IO', 'the console closed');
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
    this.#wake = undefined;
    const bytes = this.#pending.subarray(0, n);
    this.#pending = this.#pending.subarray(n);
    return bytes;
  }

  #fail(error: unknown): void {
    if (this.#closed) return;
    const failure = toHypervisorError(error, 'EXTERNAL', 'the console failed');
    this.close(consoleCloseCode(failure.code), failure.codeName);
  }

  #dispose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stop.abort();
    this.#socket?.destroy();
    for (const cleanup of this.#cleanups) cleanup();
    this.#wake?.();
    if (this.#ws.readyState === this.#ws.CLOSED) this.#onClosed();
    else this.#ws.once('close', () => this.#onClosed());
  }
}
