import { PassThrough } from 'node:stream';
import { type LongRunningProcess, type ProcessRunner, processResult } from '@cvmweb/core/node';
import { describe, expect, it, vi } from 'vitest';
import { type DomainEvent, DomainEvents, parseDomainEvent } from './domain-events.js';

describe('parseDomainEvent', () => {
  it('reads lifecycle lines of `virsh event --loop --all --timestamp`', () => {
    const at = '2026-11-27 01:16:59.267+0000: ';
    expect(parseDomainEvent(`${at}event 'lifecycle' for domain 'cvmweb-a-1': Started Booted`)).toEqual({
      domain: 'cvmweb-a-1',
      event: 'Started',
      detail: 'Booted',
      state: 'running',
    });
    expect(parseDomainEvent(`${at}event 'lifecycle' for domain 'x': Suspended Paused`)?.state).toBe('paused');
    expect(parseDomainEvent(`${at}event 'lifecycle' for domain 'x': Resumed Unpaused`)?.state).toBe(
      'running',
    );
    expect(parseDomainEvent(`${at}event 'lifecycle' for domain 'x': Stopped Shutdown`)?.state).toBe(
      'poweroff',
    );
    expect(parseDomainEvent(`${at}event 'lifecycle' for domain 'x': Stopped Saved`)?.state).toBe('saved');
    expect(parseDomainEvent(`${at}event 'lifecycle' for domain 'x': Crashed Panicked`)?.state).toBe('error');
    expect(
      parseDomainEvent(`${at}event 'lifecycle' for domain 'x': Shutdown Finished after host request`),
    ).toEqual({
      domain: 'x',
      event: 'Shutdown',
      detail: 'Finished after host request',
    });
    expect(parseDomainEvent("event 'lifecycle' for domain 'x': Defined Added")?.state).toBeUndefined();
  });

  it('ignores other events and their continuation lines', () => {
    expect(parseDomainEvent("2026-11-27 01:17:00.346+0000: event 'tunable' for domain 'x':")).toBeUndefined();
    expect(parseDomainEvent('\tcputune.vcpu_quota: 50000')).toBeUndefined();
    expect(parseDomainEvent('')).toBeUndefined();
  });
});

/** A runner whose `spawn` hands out processes the test ends by hand. */
function fakeRunner() {
  const spawned: {
    args: readonly string[];
    env: Readonly<Record<string, string | undefined>> | undefined;
    stdout: PassThrough;
    stderr: PassThrough;
    end: () => void;
    exited: Promise<void>;
    killed: boolean;
  }[] = [];
  const runner: ProcessRunner = {
    run: async (file, args) => processResult(file, args),
    spawn: (_file, args, options) => {
      const env = options?.env;
      const stdout = new PassThrough();
      const stderr = new PassThrough();
      let end: () => void = () => undefined;
      const exited = new Promise<void>((resolve) => {
        end = resolve;
      });
      const entry = { args, env, stdout, stderr, end, exited, killed: false };
      spawned.push(entry);
      const child: LongRunningProcess = {
        stdin: new PassThrough(),
        stdout,
        stderr,
        exited,
        kill: () => {
          entry.killed = true;
          end();
        },
      };
      return child;
    },
  };
  return { runner, spawned };
}

describe('DomainEvents', () => {
  it('starts with the first subscriber, delivers lifecycle events, restarts when the stream ends', async () => {
    const { runner, spawned } = fakeRunner();
    const events = new DomainEvents(runner, { virsh: 'virsh', uri: 'qemu:///system', restartDelayMs: 5 });
    expect(spawned).toHaveLength(0);
    const seen: DomainEvent[] = [];
    const unsubscribe = events.subscribe((event) => seen.push(event));
    expect(spawned).toHaveLength(1);
    expect(spawned[0]?.args).toEqual(['-c', 'qemu:///system', 'event', '--loop', '--all', '--timestamp']);
    spawned[0]?.stdout.write(
      "2026-11-27 01:16:59.267+0000: event 'lifecycle' for domain 'a': Stopped Shutdown\n2026-11-27 01:16:59.300+0000: event 'tunable' for",
    );
    spawned[0]?.stdout.write(" domain 'a':\n\tcputune.vcpu_quota: 1\n");
    await vi.waitFor(() => expect(seen.map((e) => `${e.domain} ${e.state}`)).toEqual(['a poweroff']));
    // libvirtd restarted: virsh event exits; a new one follows.
    spawned[0]?.end();
    await vi.waitFor(() => expect(spawned).toHaveLength(2));
    spawned[1]?.stdout.write(
      "2026-11-27 01:16:59.267+0000: event 'lifecycle' for domain 'a': Started Booted\n",
    );
    await vi.waitFor(() =>
      expect(seen.map((e) => `${e.domain} ${e.state}`)).toEqual(['a poweroff', 'a running']),
    );
    expect(spawned).toHaveLength(2);
    unsubscribe();
    events.close();
    expect(spawned[1]?.killed).toBe(true);
    // Once the killed process's exit has been handled (its handlers run in order), a closed stream
    // has scheduled no restart.
    await spawned[1]?.exited;
    expect(spawned).toHaveLength(2);
  });

  it('calls onResync once a restarted stream registered for events, never for the first stream', async () => {
    const { runner, spawned } = fakeRunner();
    const events = new DomainEvents(runner, {
      virsh: 'virsh',
      uri: 'qemu:///system',
      restartDelayMs: 1,
      listeningFallbackMs: 60_000,
    });
    let resyncs = 0;
    events.onResync(() => resyncs++);
    events.subscribe(() => undefined);
    expect(spawned[0]?.env).toEqual({
      LIBVIRT_LOG_FILTERS: '1:libvirt.domain',
      LIBVIRT_LOG_OUTPUTS: '1:stderr',
    });
    const registering = (id: number) =>
      `2026-12-02 18:46:49.059+0000: 6536: debug : virConnectDomainEventRegisterAny:9933 : dom=(nil), (VM: name=<null>, uuid=), conn=0x5, eventID=${id}, cb=0x5\n`;
    spawned[0]?.stderr.write(registering(0) + registering(1));
    await vi.waitFor(() => expect(spawned[0]?.stderr.readableLength).toBe(0));
    expect(resyncs).toBe(0);
    spawned[0]?.end();
    await vi.waitFor(() => expect(spawned).toHaveLength(2));
    // Lifecycle (id 0) registration begun is not enough: the next one shows it finished.
    spawned[1]?.stderr.write(registering(0));
    await vi.waitFor(() => expect(spawned[1]?.stderr.readableLength).toBe(0));
    expect(resyncs).toBe(0);
    spawned[1]?.stderr.write(registering(1) + registering(2));
    await vi.waitFor(() => expect(resyncs).toBe(1));
    events.close();
  });

  it('takes a restarted stream as listening after listeningFallbackMs without a registration line', async () => {
    const { runner, spawned } = fakeRunner();
    const events = new DomainEvents(runner, {
      virsh: 'virsh',
      uri: 'qemu:///system',
      restartDelayMs: 1,
      listeningFallbackMs: 20,
    });
    let resyncs = 0;
    events.onResync(() => resyncs++);
    events.subscribe(() => undefined);
    spawned[0]?.end();
    await vi.waitFor(() => expect(resyncs).toBe(1));
    expect(spawned).toHaveLength(2);
    events.close();
  });

  it('gives the stream up after ten starts in a row that end at once (polling stays)', async () => {
    const { runner, spawned } = fakeRunner();
    const debug: string[] = [];
    const events = new DomainEvents(runner, {
      virsh: 'virsh',
      uri: 'qemu:///system',
      restartDelayMs: 1,
      onDebug: (line) => debug.push(line),
    });
    events.subscribe(() => undefined);
    for (let i = 0; i < 10; i++) {
      await vi.waitFor(() => expect(spawned).toHaveLength(i + 1), { timeout: 5000 });
      spawned[i]?.end();
    }
    // Given up: the line is logged instead of scheduling another start, so none follows.
    await vi.waitFor(() => expect(debug.at(-1)).toBe('virsh event failed 10 times in a row; polling only'));
    expect(spawned).toHaveLength(10);
    events.close();
  });
});
