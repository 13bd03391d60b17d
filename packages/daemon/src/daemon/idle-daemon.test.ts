import { getEventListeners } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DaemonFlags, daemonAccess, type Session, SessionState } from '@cvmweb/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type Harness, harness } from '../../test/daemon-test-harness.js';
import { DAEMON_FILE } from './daemon-file.js';
import { IdleDaemon } from './idle-daemon.js';
import type { DaemonHost } from './idle-daemon-options.js';

const { DF_SUSPEND, DF_AUTOSTART } = DaemonFlags;
const IDLE_AFTER = 36_000; // idleTime 30 s + settle 5 s, plus a poll
let h: Harness;

afterEach(async () => {
  await h?.dispose();
});

const snapshot = (s: Session) => ({ state: s.state, hibernated: s.hibernated, cap: s.executionCap });

describe('the original plugin’s table on the mock driver', () => {
  it('minCap > 0: cap = minCap while active, maxCap while idle, both directions', async () => {
    h = await harness();
    const s = await h.session('cap', { controlled: true, minCap: 25, maxCap: 90 });
    const daemon = h.daemon();
    const events: string[] = [];
    s.on('stateChanged', (to) => events.push(`state ${to}`));
    await daemon.start();
    await h.advance(1000);
    expect(daemon.system).toBe('active');
    expect(snapshot(s)).toEqual({ state: SessionState.Started, hibernated: false, cap: 25 });
    expect(h.state.vm(s.vmName)?.executionCap).toBe(25);
    await h.advance(IDLE_AFTER);
    expect(daemon.isSystemIdle).toBe(true);
    expect(s.executionCap).toBe(90);
    expect(h.state.vm(s.vmName)?.executionCap).toBe(90);
    h.source.input();
    await h.advance(1000);
    expect(daemon.isSystemIdle).toBe(false);
    expect(s.executionCap).toBe(25);
    expect(events).toEqual([]);
    const timeline = daemon.timeline();
    expect(
      timeline.filter((e) => e.kind === 'system').map((e) => (e.kind === 'system' ? e.state : '')),
    ).toEqual(['active', 'idle', 'active']);
    expect(
      timeline
        .filter((e) => e.kind === 'action')
        .map((e) => (e.kind === 'action' ? `${e.action} ${e.cap}` : '')),
    ).toEqual(['setExecutionCap 25', 'setExecutionCap 90', 'setExecutionCap 25']);
  });

  it('minCap = 0: pause while active, resume when idle, firing the session events', async () => {
    h = await harness();
    const s = await h.session('pause', { controlled: true, minCap: 0, maxCap: 100 });
    const fired: string[] = [];
    s.on('pause', () => fired.push('pause'));
    s.on('resume', () => fired.push('resume'));
    await h.daemon().start();
    await h.advance(1000);
    expect(s.state).toBe(SessionState.Paused);
    await h.advance(IDLE_AFTER);
    expect(s.state).toBe(SessionState.Started);
    h.source.input();
    await h.advance(1000);
    expect(s.state).toBe(SessionState.Paused);
    expect(fired).toEqual(['pause', 'resume', 'pause']);
    expect(s.stoppedByUser).toBe(false);
  });

  it('minCap = 0 with DF_SUSPEND: hibernate while active, start again when idle', async () => {
    h = await harness();
    const s = await h.session('suspend', { controlled: true, minCap: 0, flags: DF_SUSPEND });
    await h.daemon().start();
    await h.advance(1000);
    expect(snapshot(s)).toMatchObject({ state: SessionState.Open, hibernated: true });
    expect(h.state.vm(s.vmName)?.state).toBe('saved');
    await h.advance(IDLE_AFTER);
    expect(snapshot(s)).toMatchObject({ state: SessionState.Started, hibernated: false });
    h.source.input();
    await h.advance(1000);
    expect(snapshot(s)).toMatchObject({ state: SessionState.Open, hibernated: true });
  });

  // Every flag combination, from a running VM and from one the user stopped.
  const rows = [0, 25].flatMap((minCap) =>
    [0, DF_SUSPEND, DF_AUTOSTART, DF_SUSPEND | DF_AUTOSTART].map((flags) => ({ minCap, flags })),
  );
  for (const { minCap, flags } of rows) {
    it(`minCap ${minCap}, flags ${flags}: from running, active then idle`, async () => {
      h = await harness();
      const s = await h.session('row', { controlled: true, minCap, maxCap: 80, flags });
      await h.daemon().start();
      await h.advance(1000);
      const active =
        minCap > 0
          ? { state: SessionState.Started, hibernated: false, cap: minCap }
          : flags & DF_SUSPEND
            ? { state: SessionState.Open, hibernated: true, cap: 100 }
            : { state: SessionState.Paused, hibernated: false, cap: 100 };
      expect(snapshot(s)).toEqual(active);
      await h.advance(IDLE_AFTER);
      expect(snapshot(s)).toEqual({
        state: SessionState.Started,
        hibernated: false,
        cap: minCap > 0 ? 80 : 100,
      });
    });
    it(`minCap ${minCap}, flags ${flags}: a VM the user stopped starts only with DF_AUTOSTART`, async () => {
      h = await harness();
      const s = await h.session('stopped', { controlled: true, minCap, maxCap: 80, flags }, 'open');
      expect(s.stoppedByUser).toBe(true);
      await h.daemon().start();
      await h.advance(1000);
      expect(s.state).toBe(SessionState.Open);
      await h.advance(IDLE_AFTER);
      expect(s.state).toBe(flags & DF_AUTOSTART ? SessionState.Started : SessionState.Open);
      if (flags & DF_AUTOSTART) {
        expect(s.stoppedByUser).toBe(false);
        // Booted again with the user data of the last boot, which the registry does not keep.
        expect(h.state.vm(s.vmName)?.userData).toBe('[cernvm]\nuser data');
        expect(s.record.userData).toBeUndefined();
      }
    });
  }

  it('DF_AUTOSTART never opens a Closed session, and nothing happens to uncontrolled ones', async () => {
    h = await harness();
    const closed = await h.session('closed', { controlled: true, minCap: 0, flags: DF_AUTOSTART }, 'closed');
    const free = await h.session('free', { controlled: false, minCap: 0 });
    await h.daemon().start();
    await h.advance(1000 + IDLE_AFTER);
    expect(closed.state).toBe(SessionState.Closed);
    expect(free.state).toBe(SessionState.Started);
    h.source.input();
    await h.advance(1000);
    expect(free.state).toBe(SessionState.Started);
  });
});

describe('sessions changed by hand while controlled', () => {
  it('a VM the user stops or closes is not restarted without DF_AUTOSTART', async () => {
    h = await harness();
    const stopped = await h.session('stopped', { controlled: true, minCap: 0 });
    const closed = await h.session('closed', { controlled: true, minCap: 0, flags: DF_SUSPEND });
    await h.daemon().start();
    await h.advance(1000);
    expect(stopped.state).toBe(SessionState.Paused);
    expect(closed.hibernated).toBe(true);
    await stopped.stop();
    await closed.close();
    await h.advance(IDLE_AFTER + 60_000);
    expect(stopped.state).toBe(SessionState.Open);
    expect(closed.state).toBe(SessionState.Closed);
  });

  it('a VM the user paused by hand stays paused; one the daemon paused is resumed', async () => {
    h = await harness();
    const mine = await h.session('mine', { controlled: true, minCap: 0 });
    const daemon = h.daemon();
    h.source.setIdleSeconds(1000);
    await daemon.start();
    await h.advance(1000);
    expect(daemon.isSystemIdle).toBe(true);
    await mine.pause();
    await h.advance(120_000);
    expect(mine.state).toBe(SessionState.Paused);
    h.source.input();
    await h.advance(1000 + IDLE_AFTER);
    expect(mine.state).toBe(SessionState.Paused);
    expect(daemon.status().sessions[0]?.hold).toBeUndefined();
  });

  it('a VM resumed by hand while active is paused again (the policy holds), and turning control off stops it', async () => {
    h = await harness();
    const s = await h.session('s', { controlled: true, minCap: 0 });
    await h.daemon({ minActionIntervalMs: 10_000 }).start();
    await h.advance(1000);
    await s.resume();
    await h.advance(6000);
    expect(s.state).toBe(SessionState.Paused);
    await s.setDaemonSettings({ controlled: false });
    await s.resume();
    await h.advance(5000);
    expect(s.state).toBe(SessionState.Started);
  });

  it('a changed policy applies at the next poll', async () => {
    h = await harness();
    const s = await h.session('s', { controlled: true, minCap: 0 });
    await h.daemon({ minActionIntervalMs: 1000 }).start();
    await h.advance(1000);
    expect(s.state).toBe(SessionState.Paused);
    await s.setDaemonSettings({ flags: DF_SUSPEND });
    await h.advance(6000);
    expect(s.hibernated).toBe(true);
    await s.setDaemonSettings({ minCap: 10, maxCap: 50, flags: 0 });
    await h.advance(IDLE_AFTER);
    expect(snapshot(s)).toEqual({ state: SessionState.Started, hibernated: false, cap: 50 });
  });
});

describe('restarts', () => {
  it('a new daemon and a new cvmweb over the same registry pick up where the old one stopped', async () => {
    h = await harness({ fileRegistry: true });
    const paused = await h.session('paused', { controlled: true, minCap: 0 });
    const saved = await h.session('saved', { controlled: true, minCap: 0, flags: DF_SUSPEND });
    const userPaused = await h.session('user', { controlled: true, minCap: 0 });
    await userPaused.pause();
    const first = h.daemon();
    await first.start();
    await h.advance(1000);
    expect(paused.state).toBe(SessionState.Paused);
    expect(saved.hibernated).toBe(true);
    await first.stop();
    const file = JSON.parse(await readFile(join(h.stateDir, DAEMON_FILE), 'utf8'));
    expect(file.holds).toEqual({ [paused.id]: 'paused', [saved.id]: 'hibernated' });

    await h.restart();
    const second = h.daemon();
    await second.start();
    await h.advance(IDLE_AFTER);
    const after = Object.fromEntries(h.cvmweb.sessions().map((r) => [r.name, [r.state, r.hibernated]]));
    expect(after).toEqual({
      paused: [SessionState.Started, false],
      saved: [SessionState.Started, false],
      user: [SessionState.Paused, false],
    });
    expect(second.status().sessions.find((x) => x.name === 'paused')?.lastAction).toMatchObject({
      action: 'resume',
      ok: true,
    });
  });

  it('persists idleTime in daemon.json; an explicit option wins', async () => {
    h = await harness();
    const first = h.daemon();
    await first.start();
    await first.setIdleTime(120);
    await first.stop();
    const second = h.daemon();
    await second.start();
    expect(second.idleTime).toBe(120);
    const third = h.daemon({ idleTime: 45 });
    await third.start();
    expect(third.idleTime).toBe(45);
  });
});

describe('hysteresis', () => {
  it('input flapping just under idleTime + settle never gives the VM the machine', async () => {
    h = await harness();
    const s = await h.session('s', { controlled: true, minCap: 0 });
    const daemon = h.daemon();
    await daemon.start();
    for (let i = 0; i < 20; i++) {
      await h.advance(34_000);
      h.source.input();
    }
    const actions = daemon.timeline().filter((e) => e.kind === 'action');
    expect(actions).toHaveLength(1);
    expect(s.state).toBe(SessionState.Paused);
  });

  it('input flapping across the threshold acts at most once per minimum interval', async () => {
    h = await harness();
    const s = await h.session('s', { controlled: true, minCap: 0, flags: DF_SUSPEND });
    const daemon = h.daemon({ minActionIntervalMs: 120_000 });
    await daemon.start();
    for (let i = 0; i < 20; i++) {
      await h.advance(37_000);
      h.source.input();
    }
    await h.advance(1000);
    const starts = daemon.timeline().filter((e) => e.kind === 'action' && e.action === 'start');
    // 20 × 37 s = 740 s: at most one start per 120 s (plus the first).
    expect(starts.length).toBeGreaterThan(0);
    expect(starts.length).toBeLessThanOrEqual(Math.floor(740 / 120) + 1);
    expect(s.hibernated).toBe(true);
  });

  it('a failed action is retried only after the minimum interval', async () => {
    h = await harness();
    const s = await h.session('s', { controlled: true, minCap: 0 });
    h.state.inject({ step: 'pause', times: 1000 });
    const daemon = h.daemon({ minActionIntervalMs: 20_000, idleTime: 3600 });
    await daemon.start();
    await h.advance(59_000);
    const tries = daemon.timeline().filter((e) => e.kind === 'action');
    expect(tries.length).toBe(3);
    expect(tries.every((e) => e.kind === 'action' && !e.ok)).toBe(true);
    expect(daemon.status().sessions[0]?.lastAction).toMatchObject({ action: 'pause', ok: false });
    expect(s.state).toBe(SessionState.Started);
    h.state.clearFaults();
    await h.advance(2000);
    expect(s.state).toBe(SessionState.Paused);
  });
});

describe('unknown idle state', () => {
  it('is never idle: sessions stay as they are and status says why', async () => {
    h = await harness();
    const s = await h.session('s', { controlled: true, minCap: 0, flags: DF_AUTOSTART }, 'open');
    h.source.setUnknown('no DISPLAY: not in an X11 session');
    const daemon = h.daemon();
    await daemon.start();
    await h.advance(300_000);
    expect(daemon.isSystemIdle).toBe(false);
    expect(daemon.status()).toMatchObject({
      system: 'unknown',
      reading: { unknown: 'no DISPLAY: not in an X11 session' },
      sessions: [{ name: 's', policy: 'pause while active, resume when idle; autostart when idle' }],
    });
    expect(s.state).toBe(SessionState.Open);
  });

  it('a hanging read times out as unknown after readTimeoutMs on the daemon’s clock', async () => {
    h = await harness();
    const daemon = new IdleDaemon({
      host: h.cvmweb,
      clock: h.clock,
      readTimeoutMs: 10_000,
      source: {
        name: 'stuck',
        probe: async () => ({ status: 'usable', score: 1 }),
        read: () => new Promise(() => {}),
      },
    });
    h.daemons.push(daemon);
    await daemon.start();
    await h.clock.advance(9_999);
    expect(daemon.status().reading).toBeUndefined();
    await h.advance(1);
    expect(daemon.status()).toMatchObject({
      reading: { unknown: 'stuck: read timed out' },
      system: 'unknown',
    });
    // The loop goes on: the next read after maxPollMs times out in its turn.
    // (Time moves by the clock alone here: whenSettled() would wait for the hanging read.)
    const readAt = daemon.status().readAt!;
    await h.clock.advance(5_000 + 9_999);
    expect(daemon.status().readAt).toBe(readAt);
    await h.clock.advance(1);
    await vi.waitFor(() => expect(daemon.status().readAt).toBe(readAt + 15_000));
  });
});

describe('the core Daemon contract', () => {
  it('validates idleTime with INVALID_USAGE', async () => {
    h = await harness();
    const daemon = h.daemon();
    for (const bad of [0, 86_401, 1.5, -3, Number.NaN, '30' as unknown as number]) {
      await expect(daemon.setIdleTime(bad)).rejects.toMatchObject({
        codeName: 'INVALID_USAGE',
        details: { field: 'idleTime' },
      });
      expect(() => h.daemon({ idleTime: bad })).toThrow(/idleTime/);
    }
    await daemon.setIdleTime(1);
    await daemon.setIdleTime(86_400);
    expect(daemon.idleTime).toBe(86_400);
  });

  it('session daemon settings are validated by core', async () => {
    h = await harness();
    const s = await h.cvmweb.requestSession('s', 'key');
    await expect(s.setDaemonSettings({ minCap: 50, maxCap: 20 })).rejects.toMatchObject({
      codeName: 'INVALID_USAGE',
    });
    await expect(s.setDaemonSettings({ flags: 0x4 })).rejects.toMatchObject({ codeName: 'INVALID_USAGE' });
    await expect(s.setDaemonSettings({ minCap: 101 })).rejects.toMatchObject({ codeName: 'INVALID_USAGE' });
  });

  it('is a Daemon: start/stop/isRunning, and unprivileged access is NOT_ALLOWED', async () => {
    h = await harness();
    const daemon = h.daemon({ path: '/usr/bin/cvmweb' });
    expect(daemon.isRunning).toBe(false);
    await daemon.start();
    expect(daemon.isRunning).toBe(true);
    const guest = daemonAccess(daemon, false);
    expect(guest.idleTime).toBe(30);
    expect(guest.path).toBeUndefined();
    await expect(guest.setIdleTime(60)).rejects.toMatchObject({ codeName: 'NOT_ALLOWED', code: -10 });
    await expect(guest.stop()).rejects.toMatchObject({ codeName: 'NOT_ALLOWED' });
    const admin = daemonAccess(daemon, true);
    expect(admin.path).toBe('/usr/bin/cvmweb');
    await admin.stop();
    expect(daemon.isRunning).toBe(false);
    expect(daemon.isSystemIdle).toBe(false);
  });

  it('reads the source only as often as needed while active', async () => {
    h = await harness();
    await h.daemon().start();
    await h.advance(30_000, 30_000);
    // Active, idleTime 30 s: at most one read per 5 s (maxPollMs).
    expect(h.source.reads).toBeLessThanOrEqual(7);
    // Idle from 35 s on: a read per 500 ms (idlePollMs) to see the user come back.
    await h.advance(15_000, 15_000);
    expect(h.source.reads).toBeGreaterThanOrEqual(7 + 18);
  });
});

/** A host whose session() waits at a gate, so a daemon action (and so a stop) stays under way. */
function gatedHost(harnessed: Harness) {
  let release!: () => void;
  let entered!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const inside = new Promise<void>((resolve) => {
    entered = resolve;
  });
  const host: DaemonHost = {
    sessions: () => harnessed.cvmweb.sessions(),
    session: async (id) => {
      entered();
      await gate;
      return harnessed.cvmweb.session(id);
    },
  };
  return { host, release, inside };
}

const runningEvents = (daemon: IdleDaemon) =>
  daemon.timeline().flatMap((e) => (e.kind === 'daemon' ? [e.running] : []));

describe('options.signal of start, stop and setIdleTime', () => {
  it('an already-aborted signal rejects with the aborted error and changes nothing', async () => {
    h = await harness();
    const daemon = h.daemon();
    const aborted = AbortSignal.abort();
    await expect(daemon.start({ signal: aborted })).rejects.toMatchObject({
      codeName: 'CONTROL',
      aborted: true,
    });
    expect(daemon.isRunning).toBe(false);
    await h.advance(5000);
    expect(h.source.reads).toBe(0);
    expect(daemon.timeline()).toEqual([]);
    const controller = new AbortController();
    const starting = daemon.start({ signal: controller.signal });
    controller.abort(); // before its turn came
    await expect(starting).rejects.toMatchObject({ aborted: true });
    expect(daemon.isRunning).toBe(false);
    await h.advance(5000);
    expect(h.source.reads).toBe(0);
    await expect(daemon.setIdleTime(90, { signal: aborted })).rejects.toMatchObject({ aborted: true });
    expect(daemon.idleTime).toBe(30);
    await expect(readFile(join(h.stateDir, DAEMON_FILE))).rejects.toMatchObject({ code: 'ENOENT' });
    await daemon.start();
    await expect(daemon.stop({ signal: aborted })).rejects.toMatchObject({ aborted: true });
    expect(daemon.isRunning).toBe(true);
    const reads = h.source.reads;
    await h.advance(10_000);
    expect(h.source.reads).toBeGreaterThan(reads);
    expect(runningEvents(daemon)).toEqual([true]);
  });

  it('removes its listeners from the signal when each call ends', async () => {
    h = await harness();
    const daemon = h.daemon();
    const controller = new AbortController();
    const { signal } = controller;
    await daemon.start({ signal });
    await daemon.setIdleTime(60, { signal });
    await h.advance(1000);
    await daemon.stop({ signal });
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
    controller.abort();
    await h.advance(1000);
    expect(daemon.isRunning).toBe(false);
    expect(daemon.idleTime).toBe(60);
  });

  it('a start aborted while it waits for a stop leaves at once and the stop completes', async () => {
    h = await harness();
    await h.session('s', { controlled: true, minCap: 0 });
    const { host, release, inside } = gatedHost(h);
    const daemon = h.daemon({ host });
    await daemon.start();
    await inside; // the daemon's pause is under way, so the stop must wait for it
    const stopping = daemon.stop();
    const controller = new AbortController();
    const starting = daemon.start({ signal: controller.signal });
    await vi.waitFor(() => expect(daemon.isRunning).toBe(false)); // the stop began; the start waits
    controller.abort();
    await expect(starting).rejects.toMatchObject({ aborted: true });
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    release();
    await stopping;
    await h.advance(5000);
    expect(daemon.isRunning).toBe(false);
    expect(runningEvents(daemon)).toEqual([true, false]);
  });

  it('a stop aborted once under way rejects the caller but still completes', async () => {
    h = await harness();
    await h.session('s', { controlled: true, minCap: 0 });
    const { host, release, inside } = gatedHost(h);
    const daemon = h.daemon({ host });
    await daemon.start();
    await inside;
    const controller = new AbortController();
    const stopping = daemon.stop({ signal: controller.signal });
    await vi.waitFor(() => expect(daemon.isRunning).toBe(false)); // the stop began
    controller.abort();
    await expect(stopping).rejects.toMatchObject({ aborted: true });
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    release();
    await daemon.whenSettled();
    await h.advance(5000);
    expect(daemon.isRunning).toBe(false);
    expect(runningEvents(daemon)).toEqual([true, false]);
  });
});

describe('start and stop in any order', () => {
  it('a start() made while stop() settles waits for it, then starts', async () => {
    h = await harness();
    const s = await h.session('s', { controlled: true, minCap: 0 });
    const { host, release, inside } = gatedHost(h);
    const daemon = h.daemon({ host });
    await daemon.start();
    await inside;
    const stopping = daemon.stop();
    const starting = daemon.start();
    await vi.waitFor(() => expect(daemon.isRunning).toBe(false)); // the stop began; the start waits
    release();
    await Promise.all([stopping, starting]);
    expect(daemon.isRunning).toBe(true);
    expect(runningEvents(daemon)).toEqual([true, false, true]);
    const reads = h.source.reads;
    await h.advance(10_000);
    expect(h.source.reads).toBeGreaterThan(reads);
    expect(s.state).toBe(SessionState.Paused);
  });

  it('a stop() made while start() loads wins: no loop runs behind isRunning = false', async () => {
    h = await harness();
    const daemon = h.daemon();
    await Promise.all([daemon.start(), daemon.stop()]);
    expect(daemon.isRunning).toBe(false);
    const reads = h.source.reads;
    await h.advance(20_000);
    expect(h.source.reads).toBe(reads);
    expect(runningEvents(daemon)).toEqual([true, false]);
    // start, stop, start, stop, start: the last call decides.
    await Promise.all([daemon.start(), daemon.stop(), daemon.start(), daemon.stop(), daemon.start()]);
    expect(daemon.isRunning).toBe(true);
    expect(runningEvents(daemon)).toEqual([true, false, true, false, true, false, true]);
  });

  it('a tick that is writing its holds when stop() comes launches no action', async () => {
    h = await harness();
    const s = await h.session('s', { controlled: true, minCap: 0 });
    const daemon = h.daemon();
    let stopping: Promise<void> | undefined;
    daemon.on('timeline', (event) => {
      // Sent by the first tick right before it writes the hold of its pause.
      if (event.kind === 'system') stopping ??= daemon.stop();
    });
    await daemon.start();
    await h.advance(0);
    await stopping;
    await h.advance(5000);
    expect(s.state).toBe(SessionState.Started);
    expect(daemon.timeline().filter((e) => e.kind === 'action')).toEqual([]);
    expect(daemon.status().sessions[0]?.hold).toBeUndefined();
    const file = JSON.parse(await readFile(join(h.stateDir, DAEMON_FILE), 'utf8'));
    expect(file.holds).toEqual({});
  });
});

describe('idle-source reads', () => {
  it('leave no timer behind: the only sleeper on the daemon’s clock is the loop’s own', async () => {
    h = await harness();
    const daemon = h.daemon({ readTimeoutMs: 4321 });
    h.source.setIdleSeconds(10_000); // idle: a read every 500 ms
    await daemon.start();
    await h.advance(250_000, 50_000);
    expect(h.source.reads).toBeGreaterThanOrEqual(400);
    expect(h.clock.pending).toBe(1);
    await daemon.stop();
    expect(h.clock.pending).toBe(0);
  });
});
