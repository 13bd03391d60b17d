import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { RFB_SECURITY_VNC, RFB_VERSION, SocketReader, vncAuthResponse } from '@cvmweb/core/node';
import { PNG } from 'pngjs';

/** The fake screen's size in pixels. */
export const FAKE_DISPLAY_WIDTH = 320;
/** The fake screen's height in pixels. */
export const FAKE_DISPLAY_HEIGHT = 200;

/** How a client wants its pixels (RFB's PIXEL_FORMAT, true colour only). */
interface PixelFormat {
  bytes: number;
  bigEndian: boolean;
  max: [number, number, number];
  shift: [number, number, number];
}

/** What a {@link FakeDisplay} reports to its VM. */
export interface FakeDisplayOptions {
  /** The VNC password (8 characters at most count). */
  readonly password: string;
  /** Called with each character typed (key down, Latin-1 keysyms, Return as `\n`). */
  readonly onKey: (text: string) => void;
  /** Every update request gets a new frame at once (a screen that keeps changing), else only after a key. */
  readonly animated?: boolean;
}

/**
 * The mock driver's display: a small VNC (RFB 3.8) server on 127.0.0.1 with VNC authentication,
 * serving a computed picture as raw rectangles, taking keys and pointer events, and its
 * screenshot as a PNG. Just enough of RFB for noVNC and for the bridge's console proxy.
 */
export class FakeDisplay {
  readonly #options: FakeDisplayOptions;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  /** Connected clients: each one's pending update (`flush` sends it once the frame differs). */
  readonly #clients = new Set<() => void>();
  #frame = 0;
  #port = 0;
  #listening: Promise<void> | undefined;

  constructor(options: FakeDisplayOptions) {
    this.#options = options;
    this.#server = createServer((socket) => this.#serve(socket));
  }

  /** Listens on an ephemeral port of 127.0.0.1; resolves with it. */
  async listen(): Promise<number> {
    this.#listening ??= new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(0, '127.0.0.1', () => resolve());
    });
    await this.#listening;
    const address = this.#server.address();
    this.#port = typeof address === 'object' && address ? address.port : 0;
    return this.#port;
  }

  /** The VNC password. */
  get password(): string {
    return this.#options.password;
  }

  /** The port it listens on (0 before {@link FakeDisplay.listen}). */
  get port(): number {
    return this.#port;
  }

  /** The screen now as a PNG file's bytes. */
  screenshot(): Buffer {
    const png = new PNG({ width: FAKE_DISPLAY_WIDTH, height: FAKE_DISPLAY_HEIGHT });
    const rgb = render(this.#frame);
    for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
      png.data[j] = rgb[i] ?? 0;
      png.data[j + 1] = rgb[i + 1] ?? 0;
      png.data[j + 2] = rgb[i + 2] ?? 0;
      png.data[j + 3] = 255;
    }
    return PNG.sync.write(png);
  }

  /** Stops listening and drops every connection. */
  async close(): Promise<void> {
    // A server closed while it starts listening would listen on: let it start first.
    await this.#listening?.catch(() => undefined);
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #changed(): void {
    this.#frame++;
    for (const flush of this.#clients) flush();
  }

  #serve(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => undefined);
    this.#session(socket, new SocketReader(socket)).catch(() => socket.destroy());
  }

  async #session(socket: Socket, reader: SocketReader): Promise<void> {
    socket.write(RFB_VERSION);
    await reader.read(12);
    socket.write(Buffer.from([1, RFB_SECURITY_VNC]));
    if ((await reader.read(1))[0] !== RFB_SECURITY_VNC) throw new Error('unsupported security type');
    const challenge = randomBytes(16);
    socket.write(challenge);
    const answer = await reader.read(16);
    if (!timingSafeEqual(answer, vncAuthResponse(this.#options.password, challenge))) {
      const reason = Buffer.from('Authentication failed');
      socket.end(Buffer.concat([u32(1), u32(reason.length), reason]));
      return;
    }
    socket.write(u32(0));
    await reader.read(1); // ClientInit
    const name = Buffer.from('cvmweb mock');
    let format: PixelFormat = { bytes: 4, bigEndian: false, max: [255, 255, 255], shift: [16, 8, 0] };
    socket.write(
      Buffer.concat([
        u16(FAKE_DISPLAY_WIDTH),
        u16(FAKE_DISPLAY_HEIGHT),
        encodeFormat(format),
        u32(name.length),
        name,
      ]),
    );
    let sent = -1;
    let wants = false;
    const flush = () => {
      if (!wants || sent === this.#frame) return;
      wants = false;
      sent = this.#frame;
      socket.write(Buffer.concat([Buffer.from([0, 0]), u16(1), rect(render(sent), format)]));
    };
    this.#clients.add(flush);
    socket.on('close', () => this.#clients.delete(flush));
    for (;;) {
      const type = (await reader.read(1))[0];
      if (type === 0) format = decodeFormat((await reader.read(19)).subarray(3));
      else if (type === 2) await reader.read((await reader.read(3)).readUInt16BE(1) * 4);
      else if (type === 3) {
        if ((await reader.read(9))[0] !== 1) sent = -1;
        wants = true;
        if (this.#options.animated) this.#frame++;
        flush();
      } else if (type === 4) {
        const event = await reader.read(7);
        const text = keyText(event.readUInt32BE(3));
        if (event[0] === 1 && text) {
          this.#options.onKey(text);
          this.#changed();
        }
      } else if (type === 5) await reader.read(5);
      else if (type === 6) await reader.read((await reader.read(7)).readUInt32BE(3));
      else throw new Error(`unknown RFB message ${type}`);
    }
  }
}

/** The picture of frame `n`: a gradient, a bar that moves with `n`, RGB bytes row by row. */
function render(n: number): Uint8Array {
  const rgb = new Uint8Array(FAKE_DISPLAY_WIDTH * FAKE_DISPLAY_HEIGHT * 3);
  const bar = (n * 8) % FAKE_DISPLAY_WIDTH;
  for (let y = 0; y < FAKE_DISPLAY_HEIGHT; y++) {
    for (let x = 0; x < FAKE_DISPLAY_WIDTH; x++) {
      const i = (y * FAKE_DISPLAY_WIDTH + x) * 3;
      const onBar = x >= bar && x < bar + 16;
      rgb[i] = onBar ? 255 : (x * 255) / FAKE_DISPLAY_WIDTH;
      rgb[i + 1] = onBar ? 255 : (y * 255) / FAKE_DISPLAY_HEIGHT;
      rgb[i + 2] = onBar ? 255 : 96;
    }
  }
  return rgb;
}

/** A raw rectangle of the whole screen in the client's pixel format. */
function rect(rgb: Uint8Array, format: PixelFormat): Buffer {
  const header = Buffer.concat([u16(0), u16(0), u16(FAKE_DISPLAY_WIDTH), u16(FAKE_DISPLAY_HEIGHT), u32(0)]);
  const pixels = Buffer.alloc((rgb.length / 3) * format.bytes);
  for (let i = 0, p = 0; i < rgb.length; i += 3, p += format.bytes) {
    let value = 0;
    for (let c = 0; c < 3; c++) {
      value += Math.round(((rgb[i + c] ?? 0) * format.max[c]!) / 255) * 2 ** format.shift[c]!;
    }
    pixels.writeUIntBE(value, p, format.bytes);
    if (!format.bigEndian) pixels.subarray(p, p + format.bytes).reverse();
  }
  return Buffer.concat([header, pixels]);
}

function encodeFormat(f: PixelFormat): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt8(f.bytes * 8, 0);
  b.writeUInt8(24, 1);
  b.writeUInt8(f.bigEndian ? 1 : 0, 2);
  b.writeUInt8(1, 3);
  for (let c = 0; c < 3; c++) {
    b.writeUInt16BE(f.max[c] ?? 255, 4 + c * 2);
    b.writeUInt8(f.shift[c] ?? 0, 10 + c);
  }
  return b;
}

function decodeFormat(b: Buffer): PixelFormat {
  const bytes = (b[0] ?? 32) / 8;
  if (![1, 2, 4].includes(bytes) || b[3] !== 1) throw new Error('only true-colour 8/16/32-bit pixels');
  return {
    bytes,
    bigEndian: b[2] === 1,
    max: [b.readUInt16BE(4), b.readUInt16BE(6), b.readUInt16BE(8)],
    shift: [b[10] ?? 16, b[11] ?? 8, b[12] ?? 0],
  };
}

/** The text of a key: Latin-1 printable keysyms and Return. */
function keyText(keysym: number): string | undefined {
  if (keysym === 0xff0d) return '\n';
  if ((keysym >= 0x20 && keysym <= 0x7e) || (keysym >= 0xa0 && keysym <= 0xff))
    return String.fromCharCode(keysym);
  return undefined;
}

const u16 = (n: number) => Buffer.from([n >> 8, n & 255]);
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
}
