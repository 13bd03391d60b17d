import { createServer } from 'node:net';

const reserved = new Set<number>();

/**
 * A TCP port of 127.0.0.1 that is free now and not handed out before by this process
 * (QEMU binds it only when the domain starts).
 */
export async function freeLoopbackPort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
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
  throw new Error('no free loopback port');
}

/** Lets {@link freeLoopbackPort} hand out `port` again. */
export function releasePort(port: number): void {
  reserved.delete(port);
}
