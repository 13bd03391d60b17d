import { createConnection, type Socket } from 'node:net';
import { abortedError, HypervisorError } from '@cvmweb/core';

/** Where a QMP monitor listens: a unix socket path, or a TCP port of 127.0.0.1 (Windows). */
export type QmpAddress = string | { readonly host: string; readonly port: number };

/** One QMP event (`STOP`, `RESUME`, `SHUTDOWN`, `RESET`, `POWERDOWN`, `MIGRATION`, …). */
export interface QmpEvent {
  readonly event: string;
  readonly data?: Record<string, unknown>;
  readonly timestamp?: { readonly seconds: number; readonly microseconds: number };
}

/** Options of one QMP call. */
export interface QmpCallOptions {
  signal?: AbortSignal | undefined;
  /** Time box in ms (default: the client's). */
  timeoutMs?: number;
}

type Pending = {
  command: string;
  resolve: (value: unknown) => void;
  reject: (error: HypervisorError) => void;
};

/**
 * A client of the QEMU Machine Protocol: it reads the greeting, negotiates capabilities, sends
 * commands with ids (answers are matched by id, so they may come in any order), time-boxes and
 * aborts them, and passes events to listeners. One connection; QEMU serves one client per monitor.
 */
export class QmpClient {
  readonly #socket: Socket;
  readonly #pending = new Map<string, Pending>();
  readonly #listeners = new Set<(event: QmpEvent) => void>();
  readonly #timeoutMs: number;
  #nextId = 1;
  #buffer = '';
  #closedError: HypervisorError | undefined;
  /** Resolves when the connection has ended, for whatever reason. */
  readonly closed: Promise<void>;
  #greeting: ((value: unknown) => void) | undefined;

  private constructor(socket: Socket, timeoutMs: number) {
    this.#socket = socket;
    this.#timeoutMs = timeoutMs;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.#receive(chunk));
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.#fail(new HypervisorError('CONTROL', 'the QMP connection closed (QEMU ended?)'));
        resolve();
      });
    });
    socket.on('error', (error) =>
      this.#fail(new HypervisorError('CONTROL', `QMP: ${error.message}`, { cause: error })),
    );
  }

  /**
   * Connects to `address`, waits for QEMU's greeting and leaves negotiation mode
   * (`qmp_capabilities`). Rejects with `CONTROL` when nothing answers within `timeoutMs`
   * (default 10 s; a monitor busy with another client does not greet) or `signal` fires.
   */
  static async connect(address: QmpAddress, options: QmpCallOptions = {}): Promise<QmpClient> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    if (options.signal?.aborted) throw abortedError('connecting to QMP', options.signal.reason);
    const socket =
      typeof address === 'string'
        ? createConnection({ path: address })
        : createConnection({ host: address.host, port: address.port });
    const client = new QmpClient(socket, timeoutMs);
    const greeting = new Promise<unknown>((resolve) => {
      client.#greeting = resolve;
    });
    try {
      const ended = client.closed.then(() => {
        throw client.#closedError;
      });
      await client.#wait(Promise.race([greeting, ended]), 'the QMP greeting', options, timeoutMs);
      await client.execute('qmp_capabilities', undefined, options);
      return client;
    } catch (error) {
      client.close();
      throw error;
    }
  }

  /** Runs `command` with `args`; resolves its `return` value, rejects with QEMU's error as `CONTROL`. */
  execute<T = unknown>(
    command: string,
    args?: Record<string, unknown>,
    options: QmpCallOptions = {},
  ): Promise<T> {
    if (this.#closedError) return Promise.reject(this.#closedError);
    const id = `cvmweb-${this.#nextId++}`;
    const answer = new Promise<unknown>((resolve, reject) => {
      this.#pending.set(id, { command, resolve, reject });
    });
    this.#socket.write(`${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id })}\n`);
    return this.#wait(answer, `QMP ${command}`, options, options.timeoutMs ?? this.#timeoutMs).finally(() =>
      this.#pending.delete(id),
    ) as Promise<T>;
  }

  /** Calls `listener` with each event until the returned function is called. */
  onEvent(listener: (event: QmpEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** True once the connection has ended. */
  get isClosed(): boolean {
    return this.#closedError !== undefined;
  }

  /** Ends the connection; pending commands reject. */
  close(): void {
    this.#socket.destroy();
  }

  #wait<T>(promise: Promise<T>, what: string, options: QmpCallOptions, timeoutMs: number): Promise<T> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(abortedError(what, signal.reason));
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new HypervisorError('CONTROL', `${what} timed out after ${timeoutMs} ms`, {
              details: { timeoutMs },
            }),
          ),
        timeoutMs,
      );
      const onAbort = () => reject(abortedError(what, signal?.reason));
      signal?.addEventListener('abort', onAbort, { once: true });
      promise.then(resolve, reject).finally(() => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      });
    });
  }

  #receive(chunk: string): void {
    this.#buffer += chunk;
    for (;;) {
      const end = this.#buffer.indexOf('\n');
      if (end < 0) return;
      const line = this.#buffer.slice(0, end).trim();
      this.#buffer = this.#buffer.slice(end + 1);
      if (line !== '') this.#message(line);
    }
  }

  #message(line: string): void {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    if ('QMP' in message) {
      this.#greeting?.(message['QMP']);
      this.#greeting = undefined;
      return;
    }
    if (typeof message['event'] === 'string') {
      for (const listener of [...this.#listeners]) listener(message as unknown as QmpEvent);
      return;
    }
    const pending = typeof message['id'] === 'string' ? this.#pending.get(message['id']) : undefined;
    if (!pending) return;
    this.#pending.delete(message['id'] as string);
    if ('error' in message) {
      const error = message['error'] as { class?: string; desc?: string };
      pending.reject(
        new HypervisorError('CONTROL', `QMP ${pending.command}: ${error.desc ?? 'failed'}`, {
          details: { command: pending.command, class: error.class },
        }),
      );
    } else {
      pending.resolve(message['return']);
    }
  }

  #fail(error: HypervisorError): void {
    if (this.#closedError) return;
    this.#closedError = error;
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
    this.#socket.destroy();
  }
}
