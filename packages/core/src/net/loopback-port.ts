import { createServer } from 'node:net';
import { HypervisorError } from '../errors/hypervisor-error.js';

/**
 * Ports of 127.0.0.1 this process handed out or was told are taken (by VMs that forward them
 * while off). One set per process, shared by every driver, so two drivers never hand out the same
 * port before the hypervisor binds it.
 */
const reserved = new Set<number>();

/** True when 127.0.0.1:`port` can be bound now (nothing listens there). */
export function isLoopbackPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port of 127.0.0.1 the system says is free now (0 when it cannot say). */
function systemFreePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(0));
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const found = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(found));
    });
  });
}

/**
 * Reserves and returns a TCP port of 127.0.0.1 that is free now and not reserved already (a
 * hypervisor binds it only when the VM starts). Give it back with {@link releaseLoopbackPort}.
 * Rejects with `CREATE` (`details.field: 'apiPort'`) when none is found.
 */
export async function reserveFreeLoopbackPort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await systemFreePort();
    if (port > 0 && !reserved.has(port)) {
      reserved.add(port);
      return port;
    }
  }
  throw new HypervisorError('CREATE', 'no free port of 127.0.0.1 for the API forward', {
    details: { field: 'apiPort' },
  });
}

/**
 * Marks `port` as taken (one an existing VM forwards), so {@link reserveFreeLoopbackPort} skips
 * it. Ignores anything but a port number.
 */
export function reserveLoopbackPort(port: number): void {
  if (Number.isInteger(port) && port > 0 && port < 65_536) reserved.add(port);
}

/** Lets {@link reserveFreeLoopbackPort} hand out `port` again. */
export function releaseLoopbackPort(port: number): void {
  reserved.delete(port);
}

/** The reserved ports (a copy, for diagnostics and tests). */
export function reservedLoopbackPorts(): number[] {
  return [...reserved];
}
