import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { DES } from 'des.js';
import { abortedError, HypervisorError } from '../errors/hypervisor-error.js';

/** The RFB version both ends of our VNC connections speak. */
export const RFB_VERSION = 'RFB 003.008\n';

/**
 * A new random display password: 8 URL-safe characters (48 random bits), as many as VNC
 * authentication uses. Every driver's per-VM display password comes from here.
 */
export function newVncPassword(): string {
  return randomBytes(6).toString('base64url');
}

/** RFB security type 1: no authentication. */
export const RFB_SECURITY_NONE = 1;
/** RFB security type 2: VNC authentication (a DES challenge). */
export const RFB_SECURITY_VNC = 2;

/**
 * The answer to a VNC authentication challenge: the 16-byte `challenge` encrypted with DES-ECB
 * under the password (its first 8 bytes, zero-padded, each byte's bits reversed, as RFB says).
 * Node's OpenSSL 3 has no DES without its legacy provider, so this uses des.js.
 */
export function vncAuthResponse(password: string, challenge: Uint8Array): Buffer {
  const key = Buffer.alloc(8);
  Buffer.from(password, 'latin1').copy(key, 0, 0, 8);
  const cipher = DES.create({ type: 'encrypt', key: [...key].map(reverseBits), padding: false });
  return Buffer.from([...cipher.update(challenge), ...cipher.final()]);
}

function reverseBits(byte: number): number {
  let reversed = 0;
  for (let bit = 0; bit < 8; bit++) if (byte & (1 << bit)) reversed |= 1 << (7 - bit);
  return reversed;
}

/**
 * Reads exact byte counts from a socket until {@link SocketReader.release}, which hands back
 * what arrived beyond the last read and stops listening.
 */
export class SocketReader {
  readonly #socket: Socket;
  #buffer = Buffer.alloc(0);
  #waiting: { n: number; resolve: (bytes: Buffer) => void; reject: (error: Error) => void } | undefined;
  #failure: Error | undefined;
  readonly #onData = (chunk: Buffer) => {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    this.#serve();
  };
  readonly #onEnd = (error?: Error) => {
    this.#failure = error ?? new Error('the connection closed');
    this.#waiting?.reject(this.#failure);
    this.#waiting = undefined;
  };

  /** Starts listening to `socket`. */
  constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', this.#onData);
    socket.on('error', this.#onEnd);
    socket.on('close', this.#onClose);
  }

  readonly #onClose = () => this.#onEnd();

  /** The next `n` bytes. */
  read(n: number): Promise<Buffer> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#waiting = { n, resolve, reject };
      this.#serve();
    });
  }

  /** Stops listening; returns the bytes received but not read. */
  release(): Buffer {
    this.#socket.off('data', this.#onData);
    this.#socket.off('error', this.#onEnd);
    this.#socket.off('close', this.#onClose);
    return this.#buffer;
  }

  #serve(): void {
    const waiting = this.#waiting;
    if (!waiting || this.#buffer.length < waiting.n) return;
    this.#waiting = undefined;
    const bytes = this.#buffer.subarray(0, waiting.n);
    this.#buffer = this.#buffer.subarray(waiting.n);
    waiting.resolve(Buffer.from(bytes));
  }
}

/**
 * The client side of an RFB 3.8 handshake up to the end of security, on a connected `socket`:
 * version, security type (VNC authentication when the server offers it and `password` is set,
 * else none), and the security result. Resolves with the bytes that came after (normally none):
 * the caller sends ClientInit next. Rejects with `NOT_ALLOWED` (-10) when the server refuses the
 * password, `EXTERNAL` (-7) when it speaks something else, `CONTROL` (aborted) on `signal`.
 */
export async function authenticateVnc(
  socket: Socket,
  password: string | undefined,
  options: { signal?: AbortSignal } = {},
): Promise<Buffer> {
  const reader = new SocketReader(socket);
  const abort = () => socket.destroy(abortedError('VNC authentication', options.signal?.reason));
  options.signal?.addEventListener('abort', abort, { once: true });
  try {
    const version = (await reader.read(12)).toString('latin1');
    if (!/^RFB 003\.00[3-8]\n$/.test(version)) throw foreign(`greeting ${JSON.stringify(version)}`);
    if (version !== RFB_VERSION) throw foreign(`version ${version.trim()} (3.8 needed)`);
    socket.write(RFB_VERSION);
    const count = (await reader.read(1))[0] ?? 0;
    if (count === 0) throw foreign(await reason(reader));
    const types = [...(await reader.read(count))];
    const type =
      password !== undefined && types.includes(RFB_SECURITY_VNC) ? RFB_SECURITY_VNC : RFB_SECURITY_NONE;
    if (!types.includes(type)) throw foreign(`security types ${types.join(',')}`);
    socket.write(Buffer.from([type]));
    if (type === RFB_SECURITY_VNC) socket.write(vncAuthResponse(password ?? '', await reader.read(16)));
    if ((await reader.read(4)).readUInt32BE(0) !== 0) {
      throw new HypervisorError(
        'NOT_ALLOWED',
        `the VNC server refused the password: ${await reason(reader)}`,
      );
    }
    return reader.release();
  } catch (error) {
    reader.release();
    if (options.signal?.aborted) throw abortedError('VNC authentication', options.signal.reason);
    if (error instanceof HypervisorError) throw error;
    throw new HypervisorError('EXTERNAL', 'the VNC handshake failed', { cause: error });
  } finally {
    options.signal?.removeEventListener('abort', abort);
  }
}

async function reason(reader: SocketReader): Promise<string> {
  const length = (await reader.read(4)).readUInt32BE(0);
  return (await reader.read(Math.min(length, 1024))).toString('utf8');
}

function foreign(what: string): HypervisorError {
  return new HypervisorError('EXTERNAL', `not a VNC server we can use: ${what}`);
}
