import { createServer } from 'node:net';
import { HypervisorError } from '@cvmweb/core';

/** Ports handed out by this process, and ports our domains' metadata names (seeded by listing). */
const reserved = new Set<number>();

/** True when 127.0.0.1:`port` can be bound now (nothing listens there). */
export function loopbackPortIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A TCP port of 127.0.0.1 that is free now and not reserved (handed out before by this process,
 * or named by one of our domains; QEMU binds it only when the domain starts). Rejects with
 * `CREATE` when none is found.
 */
export async function freeLoopbackPort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(0));
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        const found = typeof address === 'object' && address ? address.port : 0;
        server.close(() => resolve(found));
      });
    });
    if (port > 0 && !reserved.has(port)) {
      reserved.add(port);
      return port;
    }
  }
  throw new HypervisorError('CREATE', 'no free port of 127.0.0.1 for the API forward', {
    details: { field: 'apiPort' },
  });
}

/** Marks `port` as taken (a port an existing domain forwards), so {@link freeLoopbackPort} skips it. */
export function reservePort(port: number): void {
  if (Number.isInteger(port) && port > 0) reserved.add(port);
}

/** The reserved ports (a copy, for diagnostics and tests). */
export function reservedPorts(): number[] {
  return [...reserved];
}

/** Lets {@link freeLoopbackPort} hand out `port` again. */
export function releasePort(port: number): void {
  reserved.delete(port);
}
