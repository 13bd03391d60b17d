import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { guestGet } from './guest-get.js';

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
  }
});

/** A loopback server on `host` whose handler sees every request; resolves with its base URL. */
async function serve(handler: Parameters<typeof createServer>[1], host = '127.0.0.1'): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(0, host, done);
  });
  const { port } = server.address() as AddressInfo;
  return host.includes(':') ? `http://[${host}]:${port}` : `http://${host}:${port}`;
}

describe('guestGet', () => {
  it('answers with the status and body, asking for the path with its query', async () => {
    const seen: string[] = [];
    const url = await serve((request, response) => {
      seen.push(request.url ?? '');
      response.writeHead(201).end('hello');
    });
    expect(await guestGet(url, '/cgi-bin/report?x=1', 5000)).toEqual({ status: 201, body: 'hello' });
    expect(seen).toEqual(['/cgi-bin/report?x=1']);
  });

  it('reaches an IPv6 loopback address', async (context) => {
    const url = await serve((_request, response) => response.end('six'), '::1').catch(() => undefined);
    if (!url) return context.skip('no IPv6 loopback here');
    expect(await guestGet(url, '/', 5000)).toEqual({ status: 200, body: 'six' });
  });

  it('gives undefined when nothing listens', async () => {
    const url = await serve(() => undefined);
    const server = servers.pop();
    await new Promise((done) => server?.close(done));
    expect(await guestGet(url, '/', 5000)).toBeUndefined();
  });

  it('gives undefined when the whole answer does not come within the time-out, even with data trickling in', async () => {
    const url = await serve((_request, response) => {
      response.writeHead(200);
      const drip = setInterval(() => response.write('.'), 20);
      response.on('close', () => clearInterval(drip));
    });
    expect(await guestGet(url, '/', 300)).toBeUndefined();
  });

  it('gives undefined at once when the signal aborts', async () => {
    const url = await serve(() => undefined); // never answers
    const controller = new AbortController();
    const answer = guestGet(url, '/', 60_000, { signal: controller.signal });
    controller.abort();
    expect(await answer).toBeUndefined();
    expect(await guestGet(url, '/', 60_000, { signal: AbortSignal.abort() })).toBeUndefined();
  });
});
