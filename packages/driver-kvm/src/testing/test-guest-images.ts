import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ImageCache, ImageCatalog, type ImageEntry } from '@cvmweb/core';
import { guestGet, waitUntil } from '@cvmweb/core/node';
/**
 * The files of a built test guest that {@link guestEntries} serves: what the test-guest kit's
 * `testGuest()` resolves with (a driver imports no cvmweb package but core, so the guest is built
 * by the kit outside the driver and its files are handed here).
 */
export interface GuestFiles {
  /** The kernel as an ELF, for direct boot. */
  readonly vmlinux: string;
  /** The initramfs. */
  readonly initrd: string;
  /** The bootable ISO. */
  readonly iso: string;
  /** The kernel command line for direct boot. */
  readonly cmdline: string;
  /** The sha256 of each file, by file name (`vmlinux`, `initrd.gz`, `guest.iso`). */
  readonly sha256: Readonly<Record<string, string>>;
}

/** A loopback HTTP server of files, as a CernVM release server would serve them. */
export class FileServer {
  readonly #server: Server;
  readonly #files = new Map<string, string>();
  #base = '';

  constructor() {
    this.#server = createServer((request, response) => {
      const file = this.#files.get(new URL(request.url ?? '/', 'http://x').pathname);
      if (!file) {
        response.writeHead(404).end();
        return;
      }
      void stat(file).then((info) => {
        response.writeHead(200, { 'content-length': info.size });
        createReadStream(file).pipe(response);
      });
    });
  }

  /** Serves `file` at `path`; returns its URL. */
  serve(path: string, file: string): string {
    this.#files.set(path, file);
    return `${this.#base}${path}`;
  }

  /** Listens on a free port of 127.0.0.1; resolves with the server once it does. */
  async start(): Promise<this> {
    await new Promise<void>((done) => this.#server.listen(0, '127.0.0.1', done));
    this.#base = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  /** Closes every connection and stops listening. */
  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((done) => this.#server.close(() => done()));
  }
}

/** Catalog entries of the test guest: `test-kernel` (direct boot) and `test-iso` (CernVM-style CD-ROM). */
export function guestEntries(server: FileServer, g: GuestFiles): ImageEntry[] {
  return [
    {
      version: 'test-kernel',
      kind: 'kernel',
      context: 'cernvm',
      url: server.serve('/vmlinux', g.vmlinux),
      sha256: g.sha256['vmlinux'] ?? '',
      initrdUrl: server.serve('/initrd.gz', g.initrd),
      initrdSha256: g.sha256['initrd.gz'] ?? '',
      cmdline: g.cmdline,
    },
    {
      version: 'test-iso',
      kind: 'iso',
      context: 'cernvm',
      url: server.serve('/guest.iso', g.iso),
      sha256: g.sha256['guest.iso'] ?? '',
    },
    {
      version: 'test-cloud-init',
      kind: 'kernel',
      context: 'cloud-init',
      url: server.serve('/vmlinux', g.vmlinux),
      sha256: g.sha256['vmlinux'] ?? '',
      initrdUrl: server.serve('/initrd.gz', g.initrd),
      initrdSha256: g.sha256['initrd.gz'] ?? '',
      cmdline: g.cmdline,
    },
  ];
}

/** An image cache over the test guest's entries. */
export function guestCache(directory: string, entries: ImageEntry[]): ImageCache {
  return new ImageCache({ directory, catalog: new ImageCatalog(entries, { defaults: [] }) });
}

/**
 * Polls the guest's API at `path` on 127.0.0.1:`port` until it answers with a 2xx status, for up
 * to `timeoutMs`; resolves with the answer's body. Rejects with core's `QUERY` time-out error
 * (`details.timedOut`), or an aborted `CONTROL` error when `signal` fires.
 */
export function waitForGuest(
  port: number,
  path: string,
  timeoutMs = 60_000,
  options?: { signal?: AbortSignal },
): Promise<string> {
  return waitUntil(
    async (signal) => {
      const answer = await guestGet(`http://127.0.0.1:${port}`, path, 3000, { signal });
      return answer && answer.status >= 200 && answer.status < 300 ? answer.body : undefined;
    },
    {
      what: `the guest on port ${port} to answer ${path}`,
      timeoutMs,
      intervalMs: 200,
      ...(options?.signal ? { signal: options.signal } : {}),
    },
  );
}
