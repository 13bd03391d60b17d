import type { Hypervisor, VmHandle } from '@cvmweb/core';
import { ManualClock } from '@cvmweb/core/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { httpGet, startSpec, vmSpec } from '../test/test-helpers.js';
import { createMockHypervisor, type MockHypervisor, type MockOptions, mock } from './index.js';

let state: MockHypervisor;

beforeEach(() => {
  state = createMockHypervisor();
});

afterEach(async () => {
  await state.shutdown();
  expect(state.openServers).toBe(0);
});

async function running(
  options: MockOptions = {},
  userData = 'hello guest',
): Promise<{ hv: Hypervisor; vm: VmHandle }> {
  const hv = await mock({ instance: state, ...options }).create();
  const vm = await hv.createVm(vmSpec());
  await vm.start(startSpec(userData));
  return { hv, vm };
}

function port(vm: VmHandle): number {
  const endpoint = vm.apiEndpoint?.();
  if (!endpoint) throw new Error('no API endpoint');
  return endpoint.port;
}

async function refused(p: number): Promise<boolean> {
  return httpGet(p).then(
    () => false,
    () => true,
  );
}

describe('API endpoint', () => {
  it('answers GET with the user data of the boot on a loopback port', async () => {
    const { vm } = await running({}, 'CVM_USER=demo');
    expect(vm.apiEndpoint?.()).toEqual({ host: '127.0.0.1', port: expect.any(Number), guestIp: '10.0.2.15' });
    expect(await httpGet(port(vm))).toEqual({ status: 200, body: 'CVM_USER=demo' });
    expect((await httpGet(port(vm), '/', 'POST')).status).toBe(405);
    expect(state.openServers).toBe(1);
    expect(state.vm(vm.id)?.apiPort).toBe(port(vm));
  });

  it('has no endpoint and no server before start', async () => {
    const hv = await mock({ instance: state }).create();
    const vm = await hv.createVm(vmSpec());
    expect(vm.apiEndpoint?.()).toBeUndefined();
    expect(state.openServers).toBe(0);
  });

  it('closes on pause and reopens on resume, on the same port when free', async () => {
    const { vm } = await running();
    const before = port(vm);
    await vm.pause?.();
    expect(vm.apiEndpoint?.()).toBeUndefined();
    expect(state.openServers).toBe(0);
    expect(await refused(before)).toBe(true);
    await vm.resume?.();
    expect(port(vm)).toBe(before);
    expect((await httpGet(before)).body).toBe('hello guest');
  });

  it('closes on stop, hibernate and destroy', async () => {
    const { vm } = await running();
    const first = port(vm);
    await vm.stop();
    expect(await refused(first)).toBe(true);
    expect(state.openServers).toBe(0);

    await vm.start(startSpec('again'));
    expect((await httpGet(port(vm))).body).toBe('again');
    const second = port(vm);
    await vm.hibernate?.();
    expect(await refused(second)).toBe(true);
    expect(state.openServers).toBe(0);

    await vm.start(startSpec('ignored on restore'));
    expect((await httpGet(port(vm))).body).toBe('again');
    const third = port(vm);
    await vm.destroy();
    expect(await refused(third)).toBe(true);
    expect(state.openServers).toBe(0);
  });

  it('drops open keep-alive connections when it closes', async () => {
    const { vm } = await running();
    const { Agent, request } = await import('node:http');
    const agent = new Agent({ keepAlive: true });
    const get = () =>
      new Promise<string>((resolve, reject) => {
        request({ host: '127.0.0.1', port: port(vm), agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(String(res.statusCode)));
        })
          .on('error', reject)
          .end();
      });
    expect(await get()).toBe('200');
    await vm.pause?.(); // resolves only once every connection is closed
    expect(state.openServers).toBe(0);
    agent.destroy();
  });

  it('uses a custom responder', async () => {
    const { vm } = await running({
      api: {
        respond: (req) =>
          req.url === '/status' ? { status: 200, body: `up ${req.vm.name}` } : { status: 404, body: 'no' },
      },
    });
    const name = vm.name;
    expect(await httpGet(port(vm), '/status')).toEqual({ status: 200, body: `up ${name}` });
    expect((await httpGet(port(vm), '/other')).status).toBe(404);
  });

  it('answers 500 when the responder throws', async () => {
    const { vm } = await running({
      api: {
        respond: () => {
          throw new Error('guest bug');
        },
      },
    });
    expect(await httpGet(port(vm))).toEqual({ status: 500, body: 'guest bug' });
  });

  it('opens no server at all with api: false', async () => {
    const { vm } = await running({ api: false });
    expect(vm.apiEndpoint?.()).toBeUndefined();
    expect(state.openServers).toBe(0);
  });

  it('answers only after apiDelayMs of (virtual) boot time, again after a reset', async () => {
    const clock = new ManualClock();
    const { vm } = await running({ clock, apiDelayMs: 30_000 });
    const p = port(vm);
    expect(await refused(p)).toBe(true);
    await clock.advance(30_000);
    expect((await httpGet(p)).status).toBe(200);
    await vm.reset?.();
    expect(await refused(p)).toBe(true);
    await clock.advance(30_000);
    expect((await httpGet(p)).status).toBe(200);
    // A restored guest was already up: no boot delay.
    await vm.hibernate?.();
    await vm.start(startSpec());
    expect((await httpGet(port(vm))).status).toBe(200);
  });
});

describe('servers never leak', () => {
  it('keeps running VMs serving after dispose, until the state shuts down', async () => {
    const { hv, vm } = await running();
    const { vm: other } = await running();
    await other.pause?.();
    const p = port(vm);
    await hv.dispose();
    expect((await httpGet(p)).status).toBe(200);
    expect(state.openServers).toBe(1);
    await state.shutdown();
    expect(state.openServers).toBe(0);
    expect(await refused(p)).toBe(true);
    expect(state.vms().map((v) => v.state)).toEqual(['poweroff', 'poweroff']);
  });

  it('counts one server per running VM', async () => {
    const hv = await mock({ instance: state }).create();
    const vms = await Promise.all([1, 2, 3].map(() => hv.createVm(vmSpec())));
    await Promise.all(vms.map((vm) => vm.start(startSpec())));
    expect(state.openServers).toBe(3);
    expect(new Set(vms.map(port)).size).toBe(3);
    await vms[0]?.stop();
    await state.crash(vms[1]?.id ?? '');
    expect(state.openServers).toBe(1);
  });

  it('closes the server of a start aborted while it was opening', async () => {
    const hv = await mock({ instance: state }).create();
    const vm = await hv.createVm(vmSpec());
    const controller = new AbortController();
    const starting = vm.start(startSpec(), { signal: controller.signal });
    controller.abort();
    await expect(starting).rejects.toMatchObject({ codeName: 'CONTROL', aborted: true });
    expect(await vm.state()).toBe('poweroff');
    expect(state.openServers).toBe(0);
  });
});

describe('concurrent opening', () => {
  it('shares one server between two starts racing on one VM', async () => {
    const hv = await mock({ instance: state }).create();
    const vm = await hv.createVm(vmSpec());
    const results = await Promise.allSettled([vm.start(startSpec('a')), vm.start(startSpec('b'))]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(await vm.state()).toBe('running');
    expect(state.openServers).toBe(1);
    expect((await httpGet(port(vm))).status).toBe(200);
  });

  it('leaks no server when the state shuts down while a start is opening one', async () => {
    const hv = await mock({ instance: state }).create();
    const vm = await hv.createVm(vmSpec());
    const starting = vm.start(startSpec()).then(
      () => 'ok',
      () => 'failed',
    );
    await state.shutdown();
    expect(await starting).toBe('failed');
    expect(state.openServers).toBe(0);
    expect(await vm.state()).toBe('poweroff');
  });
});
