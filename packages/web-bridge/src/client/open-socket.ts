import { PROTOCOL_VERSION } from '../protocol/protocol-version.js';
import type { HelloFrame, ServerFrame } from '../protocol/server-frame.js';
import type { ConnectOptions } from './connect-options.js';
import { unreachableError } from './local-network-access.js';
import type { WebSocketLike } from './web-socket-like.js';

/** @internal Opens the WebSocket and waits for the service's hello frame. */
export function openSocket(
  options: ConnectOptions,
  base: string,
): Promise<{ ws: WebSocketLike; hello: HelloFrame }> {
  const url = `${base.replace(/^http/, 'ws')}/bridge?v=${PROTOCOL_VERSION}`;
  const make =
    options.createWebSocket ??
    ((u: string) =>
      new (globalThis as unknown as { WebSocket: new (u: string) => WebSocketLike }).WebSocket(u));
  return new Promise((resolve, reject) => {
    let ws: WebSocketLike;
    const fail = (reason: string) => void unreachableError(base, reason).then(reject);
    try {
      ws = make(url);
    } catch (error) {
      fail(error instanceof Error ? error.message : String(error));
      return;
    }
    const timer = setTimeout(() => {
      ws.close();
      fail('timeout');
    }, options.timeoutMs ?? 5000);
    let done = false;
    // A failed connection also closes; the error event carries nothing more.
    ws.addEventListener('error', () => undefined);
    ws.addEventListener('message', (event) => {
      if (done) return;
      try {
        const frame = JSON.parse(String(event.data)) as ServerFrame;
        if (frame.type === 'hello') {
          done = true;
          clearTimeout(timer);
          resolve({ ws, hello: frame });
        }
      } catch {
        // Ignored: only the hello frame matters here.
      }
    });
    ws.addEventListener('close', () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      fail('connection refused or closed');
    });
  });
}
