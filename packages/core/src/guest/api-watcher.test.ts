import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../clock/clock.js';
import type { ApiEndpoint } from '../driver/driver.js';
import { type ApiWatchTiming, apiUrl, watchApi } from './api-watcher.js';
import { probeApi } from './probe-api.js';

const servers: Server[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map(stop));
});

async function startHttp(port = 0): Promise<{ server: Server; port: number; requests: () => number }> {
  let requests = 0;
  const server = createHttpServer((_req, res) => {
    requests++;
    res.end('ok');
  });
  servers.push(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return { server, port: (server.address() as AddressInfo).port, requests: () => requests };
}

function stop(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** A port nothing listens on (bound once, then released). */
async function closedPort(): Promise<number> {
  const { server, port } = await startHttp();
  await stop(server);
  return port;
}

/** Waits until `check` holds (vi.waitFor: the watcher runs on a manual clock); fails after 5 s. */
async function until(check: () => boolean, what: string): Promise<void> {
  await vi.waitFor(() => expect(check(), what).toBe(true), { timeout: 5000, interval: 2 });
}

function watch(endpoint: () => ApiEndpoint | undefined, timing: ApiWatchTiming = {}) {
  const clock = new ManualClock();
  const controller = new AbortController();
  const events: string[] = [];
  let looks = 0;
  const done = watchApi({
    onlineIntervalMs: 1000,
    offlineInitialMs: 100,
    offlineMaxMs: 400,
    probeTimeoutMs: 2000,
    ...timing,
    endpoint: () => {
      looks++;
      return endpoint();
    },
    clock,
    signal: controller.signal,
    onAvailable: (ip, url) => events.push(`available ${ip} ${url}`),
    onUnavailable: () => events.push('unavailable'),
  });
  return { clock, controller, events, done, looks: () => looks };
}

describe('watchApi', () => {
  it('fires onAvailable once when the API answers, and onUnavailable once when it stops', async () => {
    const { server, port, requests } = await startHttp();
    const w = watch(() => ({ host: '127.0.0.1', port, guestIp: '10.0.2.15' }));
    await until(() => w.clock.pending === 1, 'the first pause');
    expect(w.events).toEqual([`available 10.0.2.15 http://127.0.0.1:${port}/`]);

    // Still answering: more looks, no more events.
    for (let i = 0; i < 3; i++) {
      await w.clock.advance(1000);
      await until(() => w.clock.pending === 1 && requests() === i + 2, 'another online look');
    }
    expect(w.events).toHaveLength(1);

    await stop(server);
    await w.clock.advance(1000);
    await until(() => w.events.length === 2 && w.clock.pending === 1, 'the edge to unavailable');
    expect(w.events[1]).toBe('unavailable');

    // Still not answering: more looks, no more events.
    for (const pause of [100, 200, 400]) {
      const looks = w.looks();
      await w.clock.advance(pause);
      await until(() => w.looks() === looks + 1 && w.clock.pending === 1, 'another offline look');
    }
    expect(w.events).toHaveLength(2);

    w.controller.abort();
    await w.done;
    expect(w.events).toHaveLength(2);
  });

  it('fires onAvailable again after the API comes back, and uses the host when the guest IP is unknown', async () => {
    const port = await closedPort();
    const w = watch(() => ({ host: '127.0.0.1', port }));
    await until(() => w.clock.pending === 1, 'the first pause');
    expect(w.events).toEqual([]);
    await startHttp(port);
    await w.clock.advance(100);
    await until(() => w.events.length === 1 && w.clock.pending === 1, 'the edge to available');
    expect(w.events).toEqual([`available 127.0.0.1 http://127.0.0.1:${port}/`]);
    w.controller.abort();
    await w.done;
  });

  it('fires onUnavailable when the watch is aborted while available', async () => {
    const { port } = await startHttp();
    const w = watch(() => ({ host: '127.0.0.1', port }));
    await until(() => w.clock.pending === 1, 'the first pause');
    expect(w.events).toHaveLength(1);
    w.controller.abort();
    await w.done;
    expect(w.events).toEqual([w.events[0], 'unavailable']);
    expect(w.clock.pending).toBe(0);
  });

  it('fires nothing when aborted while unavailable', async () => {
    const port = await closedPort();
    const w = watch(() => ({ host: '127.0.0.1', port }));
    await until(() => w.clock.pending === 1, 'the first pause');
    w.controller.abort();
    await w.done;
    expect(w.events).toEqual([]);
  });

  it('backs off from offlineInitialMs, doubling up to offlineMaxMs, while the API does not answer', async () => {
    const port = await closedPort();
    const w = watch(() => ({ host: '127.0.0.1', port }), { offlineInitialMs: 100, offlineMaxMs: 400 });
    await until(() => w.clock.pending === 1 && w.looks() === 1, 'the first pause');
    for (const pause of [100, 200, 400, 400, 400]) {
      const looks = w.looks();
      await w.clock.advance(pause - 1);
      expect(w.looks()).toBe(looks);
      await w.clock.advance(1);
      await until(() => w.looks() === looks + 1 && w.clock.pending === 1, `the look after ${pause} ms`);
    }
    w.controller.abort();
    await w.done;
    expect(w.events).toEqual([]);
  });

  it('looks while the endpoint is unknown without probing, and backs off', async () => {
    let endpoint: ApiEndpoint | undefined;
    const w = watch(() => endpoint);
    await until(() => w.clock.pending === 1, 'the first pause');
    await w.clock.advance(99);
    expect(w.looks()).toBe(1);
    const { port } = await startHttp();
    endpoint = { host: '127.0.0.1', port, guestIp: '192.168.1.9' };
    await w.clock.advance(1);
    await until(() => w.events.length === 1 && w.clock.pending === 1, 'available');
    expect(w.events[0]).toBe(`available 192.168.1.9 http://127.0.0.1:${port}/`);
    w.controller.abort();
    await w.done;
  });
});

describe('probeApi', () => {
  it('is true for an HTTP server that answers', async () => {
    const { port } = await startHttp();
    expect(await probeApi('127.0.0.1', port, { timeoutMs: 5000 })).toBe(true);
  });

  it('is false for a closed port', async () => {
    expect(await probeApi('127.0.0.1', await closedPort(), { timeoutMs: 5000 })).toBe(false);
  });

  it('is false, within its time box, for a server that accepts but never answers', async () => {
    const sockets: Socket[] = [];
    const silent = createTcpServer((socket) => {
      sockets.push(socket);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    try {
      const started = Date.now();
      expect(await probeApi('127.0.0.1', port, { timeoutMs: 150 })).toBe(false);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(sockets.length).toBe(1);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('is false at once for an aborted signal, and false when aborted while waiting', async () => {
    const { port } = await startHttp();
    expect(await probeApi('127.0.0.1', port, { signal: AbortSignal.abort() })).toBe(false);
    const silent = createTcpServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const controller = new AbortController();
      const pending = probeApi('127.0.0.1', (silent.address() as AddressInfo).port, {
        timeoutMs: 60_000,
        signal: controller.signal,
      });
      controller.abort();
      expect(await pending).toBe(false);
    } finally {
      silent.close();
    }
  });
});

describe('apiUrl', () => {
  it('brackets IPv6 hosts', () => {
    expect(apiUrl({ host: '127.0.0.1', port: 8080 })).toBe('http://127.0.0.1:8080/');
    expect(apiUrl({ host: '::1', port: 8080 })).toBe('http://[::1]:8080/');
  });
});
