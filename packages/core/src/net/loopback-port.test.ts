import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  isLoopbackPortFree,
  releaseLoopbackPort,
  reservedLoopbackPorts,
  reserveFreeLoopbackPort,
  reserveLoopbackPort,
} from './loopback-port.js';

describe('loopback port reservation', () => {
  it('hands out a free port, reserved until released, and never the same one twice meanwhile', async () => {
    const ports = [];
    for (let i = 0; i < 5; i++) ports.push(await reserveFreeLoopbackPort());
    expect(new Set(ports).size).toBe(5);
    for (const port of ports) {
      expect(reservedLoopbackPorts()).toContain(port);
      expect(await isLoopbackPortFree(port)).toBe(true);
    }
    for (const port of ports) releaseLoopbackPort(port);
    for (const port of ports) expect(reservedLoopbackPorts()).not.toContain(port);
  });

  it('tells a port something listens on from a free one', async () => {
    const server = createServer();
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    expect(await isLoopbackPortFree(port)).toBe(false);
    await new Promise<void>((done) => server.close(() => done()));
    expect(await isLoopbackPortFree(port)).toBe(true);
  });

  it('marks ports taken by existing VMs, ignoring what is not a port', () => {
    const before = reservedLoopbackPorts();
    reserveLoopbackPort(40_123);
    reserveLoopbackPort(0);
    reserveLoopbackPort(-1);
    reserveLoopbackPort(1.5);
    reserveLoopbackPort(70_000);
    expect(reservedLoopbackPorts()).toEqual([...before, 40_123]);
    releaseLoopbackPort(40_123);
    expect(reservedLoopbackPorts()).toEqual(before);
  });
});
