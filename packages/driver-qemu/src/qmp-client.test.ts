import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isHypervisorError } from '@cvmweb/core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { qemuUnavailable } from '../test/testing-support.js';
import { QmpClient, type QmpEvent } from './qmp-client.js';

// Against a real QEMU with no machine (`-machine none`: no guest, nothing to boot).
const unavailable = qemuUnavailable();

describe.skipIf(unavailable !== undefined)(
  `QMP client${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    let dir: string;
    let socket: string;
    let qemu: ReturnType<typeof spawn>;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'cvmweb-qmp-'));
      socket = join(dir, 'qmp.sock');
      qemu = spawn(
        'qemu-system-x86_64',
        ['-machine', 'none', '-nodefaults', '-display', 'none', '-qmp', `unix:${socket},server=on,wait=off`],
        { stdio: 'ignore' },
      );
      // QEMU answers once its QMP socket is up.
      const client = await vi.waitFor(() => QmpClient.connect(socket, { timeoutMs: 1000 }), {
        timeout: 20_000,
        interval: 50,
      });
      client.close();
      await client.closed;
    });
    afterAll(async () => {
      qemu?.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    });

    it('negotiates, matches answers to commands by id, and turns QMP errors into CONTROL with the class', async () => {
      const client = await QmpClient.connect(socket);
      const [status, version, commands] = await Promise.all([
        client.execute<{ status: string }>('query-status'),
        client.execute<{ qemu: { major: number } }>('query-version'),
        client.execute<{ name: string }[]>('query-commands'),
      ]);
      expect(typeof status.status).toBe('string');
      expect(version.qemu.major).toBeGreaterThanOrEqual(7);
      expect(commands.map((c) => c.name)).toContain('migrate-incoming');
      const error = await client.execute('no-such-command').catch((e: unknown) => e);
      expect(isHypervisorError(error) && error.codeName).toBe('CONTROL');
      expect(isHypervisorError(error) && error.details['class']).toBe('CommandNotFound');
      client.close();
      await client.closed;
      await expect(client.execute('query-status')).rejects.toThrow(/closed/);
    });

    it('passes events to listeners (STOP, RESUME)', async () => {
      const client = await QmpClient.connect(socket);
      const events: string[] = [];
      client.onEvent((event: QmpEvent) => events.push(event.event));
      await client.execute('stop');
      await client.execute('cont');
      await expect.poll(() => events).toEqual(expect.arrayContaining(['STOP', 'RESUME']));
      client.close();
    });

    it('a monitor busy with another client does not greet: connect() times out, then succeeds once it is free', async () => {
      const first = await QmpClient.connect(socket);
      const error = await QmpClient.connect(socket, { timeoutMs: 300 }).catch((e: unknown) => e);
      expect(isHypervisorError(error) && error.details['timeoutMs']).toBe(300);
      first.close();
      const second = await QmpClient.connect(socket, { timeoutMs: 5000 });
      second.close();
    });

    it('a command is time-boxed and aborted, and a dead socket rejects at once', async () => {
      // A monitor that greets and negotiates, then never answers: only a fake can do that.
      const silent = join(dir, 'silent.sock');
      const server = createServer((c) => {
        c.write('{"QMP": {"version": {}, "capabilities": []}}\r\n');
        c.on('data', (d) => {
          if (String(d).includes('qmp_capabilities')) c.write(`{"return": {}, "id": "cvmweb-1"}\r\n`);
        });
      });
      await new Promise<void>((resolve) => server.listen(silent, resolve));
      const client = await QmpClient.connect(silent);
      await expect(client.execute('query-status', undefined, { timeoutMs: 100 })).rejects.toThrow(
        /timed out/,
      );
      const controller = new AbortController();
      const pending = client.execute('query-status', undefined, { signal: controller.signal });
      controller.abort();
      const aborted = await pending.catch((e: unknown) => e);
      expect(isHypervisorError(aborted) && aborted.aborted).toBe(true);
      client.close();
      server.close();
      await expect(QmpClient.connect(join(dir, 'nothing.sock'))).rejects.toThrow(/QMP|closed/);
    });
  },
);
