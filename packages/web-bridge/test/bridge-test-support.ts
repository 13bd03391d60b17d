import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Cvmweb, createCvmweb } from '@cvmweb/core';
import { TEST_SCRYPT_COST } from '@cvmweb/core/testing';
import { IdleDaemon, type IdleDaemonOptions } from '@cvmweb/daemon';
import { type FakeIdleSource, fakeIdleSource } from '@cvmweb/daemon/testing';
import { createMockHypervisor, type MockHypervisor, type MockOptions, mock } from '@cvmweb/driver-mock';
import { vi } from 'vitest';
import WebSocket from 'ws';
import { connect } from '../src/client/connect.js';
import type { CVMWebBridge } from '../src/client/cvmweb-bridge.js';
import type { BridgePolicy } from '../src/policy/bridge-policy.js';
import { PolicyStore } from '../src/policy/policy-store.js';
import type { ServerFrame } from '../src/protocol/server-frame.js';
import { BridgeService, type BridgeServiceOptions } from '../src/service/bridge-service.js';

/** A running service on the mock driver, for tests. */
export interface TestBridge {
  readonly service: BridgeService;
  readonly cvmweb: Cvmweb;
  readonly state: MockHypervisor;
  readonly stateDir: string;
  readonly policy: PolicyStore;
  /** The daemon attached to `cvmweb` and feeding the timeline, when asked for (`daemon` option). */
  readonly daemon: IdleDaemon | undefined;
  /** The daemon's fake idle source on the real clock: active until told otherwise. */
  readonly idle: FakeIdleSource | undefined;
  /** Stops the service and the entry point; `keep` leaves the state dir and mock state for a restart. */
  close(keep?: boolean): Promise<void>;
}

/** Starts a service on a free port with the mock driver and a temporary state directory. */
export async function startTestBridge(
  options: {
    policy?: Partial<BridgePolicy>;
    policyFile?: string;
    state?: MockHypervisor;
    stateDir?: string;
    port?: number;
    service?: Partial<BridgeServiceOptions>;
    /** Options of the mock driver (its `instance` is `state`). */
    mock?: Omit<MockOptions, 'instance'>;
    /**
     * Runs a real `IdleDaemon` with the service (attached to `cvmweb`, feeding the
     * timeline) over a fake idle source, with fast timings: `idleTime` one hour so
     * the system stays active until `idle.setIdleSeconds(7200)`, no settle time or
     * action interval, polls every 20–50 ms. These options override the defaults.
     */
    daemon?: Partial<IdleDaemonOptions>;
  } = {},
): Promise<TestBridge> {
  const stateDir = options.stateDir ?? (await mkdtemp(join(tmpdir(), 'cvmweb-bridge-')));
  const state = options.state ?? createMockHypervisor();
  const cvmweb = await createCvmweb({
    driver: mock({ ...options.mock, instance: state }),
    stateDir,
    secretCost: TEST_SCRYPT_COST,
    apiTiming: { onlineIntervalMs: 200, offlineInitialMs: 20, offlineMaxMs: 100, probeTimeoutMs: 500 },
  });
  await cvmweb.reconcile();
  const policy = await PolicyStore.open({
    ...(options.policyFile ? { file: options.policyFile } : {}),
    ...(options.policy ? { initial: options.policy } : {}),
  });
  let daemon: IdleDaemon | undefined;
  let idle: FakeIdleSource | undefined;
  if (options.daemon) {
    idle = fakeIdleSource();
    daemon = new IdleDaemon({
      host: cvmweb,
      source: idle,
      stateDir,
      idleTime: 3600,
      settleMs: 0,
      minActionIntervalMs: 0,
      idlePollMs: 20,
      maxPollMs: 50,
      refreshMs: 0,
      ...options.daemon,
    });
    cvmweb.attachDaemon(daemon);
    await daemon.start();
  }
  const service = new BridgeService({
    cvmweb,
    port: options.port ?? 0,
    policy,
    version: 'test',
    ...(daemon ? { timeline: daemon } : {}),
    ...options.service,
  });
  await service.start();
  return {
    service,
    cvmweb,
    state,
    stateDir,
    policy,
    daemon,
    idle,
    async close(keep = false) {
      await service.stop();
      await daemon?.stop();
      await cvmweb.dispose();
      if (!keep) {
        await state.shutdown();
        await rm(stateDir, { recursive: true, force: true });
      }
    },
  };
}

/** A raw protocol connection: send frames, await the answers. */
export class RawClient {
  readonly ws: WebSocket;
  readonly frames: ServerFrame[] = [];
  readonly #waiters: { match: (f: ServerFrame) => boolean; resolve: (f: ServerFrame) => void }[] = [];
  #nextId = 1;
  closeCode: number | undefined;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as ServerFrame;
      this.frames.push(frame);
      for (const waiter of [...this.#waiters]) {
        if (waiter.match(frame)) {
          this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
          waiter.resolve(frame);
        }
      }
    });
    ws.on('close', (code) => {
      this.closeCode = code;
    });
  }

  /** Opens a connection to `port` as a page of `origin` (and an optional forged `host`). */
  static open(port: number, origin: string, host?: string): Promise<RawClient> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/bridge`, {
      origin,
      ...(host ? { headers: { host } } : {}),
    });
    const client = new RawClient(ws);
    return new Promise((resolve, reject) => {
      ws.once('error', reject);
      client.next((f) => f.type === 'hello').then(() => resolve(client), reject);
    });
  }

  /** The next frame (already received or coming) that `match` accepts. */
  next(match: (frame: ServerFrame) => boolean): Promise<ServerFrame> {
    const seen = this.frames.find(match);
    if (seen) {
      this.frames.splice(this.frames.indexOf(seen), 1);
      return Promise.resolve(seen);
    }
    return new Promise((resolve) => this.#waiters.push({ match, resolve }));
  }

  /** Sends a request (with `v` and a fresh `id`) and resolves with its result or error frame. */
  request(fields: Record<string, unknown>): Promise<ServerFrame> {
    const id = this.#nextId++;
    this.ws.send(JSON.stringify({ v: 1, id, ...fields }));
    return this.next((f) => (f.type === 'result' || f.type === 'error') && f.id === id);
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}

/** The browser client, run in Node with the `ws` WebSocket and a chosen origin. */
export function connectClient(
  port: number,
  origin: string,
  extra: Parameters<typeof connect>[0] = {},
): Promise<CVMWebBridge> {
  return connect({
    url: `http://127.0.0.1:${port}`,
    fetch: false,
    initialBackoffMs: 50,
    maxBackoffMs: 200,
    createWebSocket: (url) => new WebSocket(url, { origin }) as never,
    ...extra,
  });
}

/** Approves (or denies) the consent request of `origin` as the person would, once it is waiting. */
export async function decideConsent(
  bridge: TestBridge,
  origin: string,
  decision: 'allow-once' | 'allow-always' | 'deny' | 'deny-always',
): Promise<void> {
  const request = await vi.waitFor(
    () => {
      const waiting = bridge.service.consent.pending().find((r) => r.origin === origin);
      if (!waiting) throw new Error(`no consent request of ${origin}`);
      return waiting;
    },
    { timeout: 5000 },
  );
  await bridge.service.consent.decide(request.token, decision);
}

/** The signed time stamp of a freshly served consent page (its forms send it back as `shown`). */
export async function consentPageStamp(port: number): Promise<string> {
  const html = await (await fetch(`http://127.0.0.1:${port}/consent`)).text();
  const stamp = /name="shown" value="([^"]+)"/.exec(html)?.[1];
  if (!stamp) throw new Error('the consent page has no pending request form');
  return stamp;
}
