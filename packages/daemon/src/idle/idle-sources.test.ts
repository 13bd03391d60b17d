import { getEventListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import { type ProcessEnding, processResult } from '@cvmweb/core/node';
import { ManualClock } from '@cvmweb/core/testing';
import { describe, expect, it } from 'vitest';
import { fakeIdleSource } from '../testing/fake-idle-source.js';
import { combinedIdleSource } from './combined-idle-source.js';
import type { IdleCommandRunner } from './command-runner.js';
import { hostLoadSource, loadPercent, parsePidStatTicks, parseProcStat } from './host-load-source.js';
import { formatReading } from './idle-source.js';
import { logindIdleSeconds, logindIdleSource, parseLoginctlIdle } from './logind-idle-source.js';
import { IOREG_ARGS, macosIdleSource, parseIoregHidIdle } from './macos-idle-source.js';
import { pickIdleSource } from './pick-idle-source.js';
import { parseWindowsIdle, windowsIdleSource } from './windows-idle-source.js';
import { parseXprintidle, x11IdleSource } from './x11-idle-source.js';

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/${name}`, import.meta.url), 'utf8');

/** A runner replaying one result, recording the calls. */
function replay(result: Partial<ProcessEnding>) {
  const calls: { file: string; args: readonly string[]; env?: unknown }[] = [];
  const runner: IdleCommandRunner = {
    run: async (file, args, options) => {
      calls.push({ file, args, env: options?.env });
      return processResult(file, args, result);
    },
  };
  return { runner, calls };
}

describe('x11 (xprintidle)', () => {
  it('parses milliseconds into seconds', () => {
    expect(parseXprintidle(fixture('xprintidle.txt'))).toEqual({ idleSeconds: 4.217 });
    expect(parseXprintidle('garbage')).toHaveProperty('unknown');
  });
  it('is not applicable without DISPLAY and never reads idle then', async () => {
    const { runner, calls } = replay({ stdout: '999999' });
    const source = x11IdleSource({ runner, env: {} });
    expect(await source.probe()).toMatchObject({ status: 'not-applicable' });
    expect(await source.read()).toEqual({ unknown: 'no DISPLAY: not in an X11 session' });
    expect(calls).toHaveLength(0);
  });
  it('runs xprintidle with the display and an argument array', async () => {
    const { runner, calls } = replay({ stdout: fixture('xprintidle.txt') });
    const source = x11IdleSource({ runner, env: { DISPLAY: ':0' } });
    expect(await source.probe()).toEqual({ status: 'usable', score: 90 });
    expect(await source.read()).toEqual({ idleSeconds: 4.217 });
    expect(calls[0]).toMatchObject({ file: 'xprintidle', args: [], env: { DISPLAY: ':0' } });
  });
  it('is broken when xprintidle is missing or cannot open the display', async () => {
    const missing = x11IdleSource({
      runner: replay({ exitCode: undefined, errorCode: 'ENOENT' }).runner,
      env: { DISPLAY: ':0' },
    });
    expect(await missing.probe()).toEqual({
      status: 'broken',
      score: 0,
      reason: 'xprintidle is not installed',
    });
    const refused = x11IdleSource({
      runner: replay({ exitCode: 1, stderr: "couldn't open display\n" }).runner,
      env: { DISPLAY: ':0' },
    });
    expect(await refused.read()).toEqual({ unknown: "xprintidle failed (exit 1): couldn't open display" });
  });
  it('scores below logind on Wayland', async () => {
    const source = x11IdleSource({
      runner: replay({ stdout: '5' }).runner,
      env: { DISPLAY: ':0', WAYLAND_DISPLAY: 'wayland-0' },
    });
    expect((await source.probe()).score).toBe(40);
  });
});

describe('logind (loginctl)', () => {
  it('parses IdleHint and IdleSinceHint (µs, wall clock)', () => {
    const parsed = parseLoginctlIdle(fixture('loginctl-idle.txt'));
    expect(parsed).toEqual({
      idleHint: true,
      idleSinceUs: 1_700_000_000_000_000,
      type: 'wayland',
      active: true,
    });
    expect(logindIdleSeconds(parsed as never, 1_700_000_042_500)).toEqual({ idleSeconds: 42.5 });
    const active = parseLoginctlIdle(fixture('loginctl-active.txt'));
    expect(logindIdleSeconds(active as never, 1_700_000_042_500)).toEqual({ idleSeconds: 0 });
    expect(parseLoginctlIdle('Foo=bar')).toEqual({ unknown: 'loginctl gave no IdleHint' });
  });
  it('is not applicable without systemd (recorded on this container)', async () => {
    const runner = replay({
      exitCode: Number(fixture('loginctl-no-systemd.exit.txt').replace('exit ', '')),
      stdout: fixture('loginctl-no-systemd.stdout.txt'),
      stderr: fixture('loginctl-no-systemd.stderr.txt'),
    }).runner;
    const source = logindIdleSource({ runner, env: {} });
    const probe = await source.probe();
    expect(probe.status).toBe('not-applicable');
    expect(probe.reason).toMatch(/no systemd-logind/);
    expect(await source.read()).toHaveProperty('unknown');
  });
  it('asks for XDG_SESSION_ID, else auto; reads idle seconds', async () => {
    const { runner, calls } = replay({ stdout: fixture('loginctl-idle.txt') });
    const source = logindIdleSource({
      runner,
      env: { XDG_SESSION_ID: '7', WAYLAND_DISPLAY: 'wayland-0' },
      now: () => 1_700_000_010_000,
    });
    expect(await source.probe()).toMatchObject({ status: 'usable', score: 80 });
    expect(await source.read()).toEqual({ idleSeconds: 10 });
    expect(calls[0]?.args).toEqual([
      'show-session',
      '7',
      '-p',
      'IdleHint',
      '-p',
      'IdleSinceHint',
      '-p',
      'Type',
      '-p',
      'Active',
    ]);
    const auto = replay({ stdout: fixture('loginctl-tty.txt') });
    expect(await logindIdleSource({ runner: auto.runner, env: {} }).probe()).toMatchObject({ score: 20 });
    expect(auto.calls[0]?.args[1]).toBe('auto');
  });
});

describe('macOS (ioreg HIDIdleTime)', () => {
  it('parses nanoseconds, not HIDIdleTimeDelta, and the data form', () => {
    expect(parseIoregHidIdle(fixture('ioreg-hidsystem.txt'))).toEqual({ idleSeconds: 12.345 });
    expect(parseIoregHidIdle(fixture('ioreg-hidsystem-data.txt'))).toEqual({ idleSeconds: 10 });
    expect(parseIoregHidIdle('nothing')).toEqual({ unknown: 'ioreg printed no HIDIdleTime' });
  });
  it('applies on darwin only and runs ioreg with fixed arguments', async () => {
    expect(await macosIdleSource({ platform: 'linux' }).probe()).toMatchObject({ status: 'not-applicable' });
    const { runner, calls } = replay({ stdout: fixture('ioreg-hidsystem.txt') });
    const source = macosIdleSource({ runner, platform: 'darwin' });
    expect(await source.probe()).toEqual({ status: 'usable', score: 90 });
    expect(calls[0]).toMatchObject({ file: 'ioreg', args: IOREG_ARGS });
  });
});

describe('Windows (GetLastInputInfo)', () => {
  it('parses the script line and refuses session 0', () => {
    expect(parseWindowsIdle(fixture('windows-idle.txt'))).toEqual({ idleSeconds: 65 });
    expect(parseWindowsIdle(fixture('windows-session0.txt'))).toEqual({
      unknown: 'running in session 0 (a service): it cannot see the user’s input',
    });
    expect(parseWindowsIdle('session=1 idle_ms=-1')).toEqual({ unknown: 'GetLastInputInfo failed' });
  });
  it('applies on win32 only and passes the script as one argument', async () => {
    expect(await windowsIdleSource({ platform: 'linux' }).probe()).toMatchObject({
      status: 'not-applicable',
    });
    const { runner, calls } = replay({ stdout: fixture('windows-session0.txt') });
    const source = windowsIdleSource({ runner, platform: 'win32' });
    expect(await source.probe()).toMatchObject({ status: 'broken' });
    expect(calls[0]?.file).toBe('powershell.exe');
    expect(calls[0]?.args.slice(0, 5)).toEqual([
      '-NoProfile',
      '-NonInteractive',
      '-ExecutionPolicy',
      'Bypass',
      '-Command',
    ]);
  });
});

describe('host load (/proc/stat)', () => {
  it('parses recorded /proc/stat and /proc/<pid>/stat', () => {
    const a = parseProcStat(fixture('proc-stat-a.txt'))!;
    const b = parseProcStat(fixture('proc-stat-b.txt'))!;
    expect(a).toEqual({ busy: 79334 + 17836 + 277 + 270, total: 79334 + 17836 + 277 + 270 + 125925 + 1249 });
    const load = loadPercent(a, b)!;
    expect(load).toBeGreaterThan(50);
    expect(load).toBeLessThanOrEqual(100);
    expect(parsePidStatTicks(fixture('proc-pid-stat.txt'))).toBe(0);
    expect(parsePidStatTicks(fixture('proc-pid-stat-spaces.txt'))).toBe(1750);
    expect(loadPercent(a, b, 1_000_000)).toBe(0);
    expect(loadPercent(a, a)).toBeUndefined();
  });
  it('counts calm time below the threshold, resets above it, and subtracts excluded processes', async () => {
    const clock = new ManualClock(0);
    let stat = 'cpu 0 0 0 0 0 0 0 0\n';
    let vm = '9 (qemu) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0\n';
    const source = hostLoadSource({
      clock,
      platform: 'linux',
      thresholdPercent: 25,
      excludePids: () => [9],
      readText: async (path) => (path === '/proc/stat' ? stat : vm),
    });
    const first = source.read();
    stat = 'cpu 10 0 0 90 0 0 0 0\n';
    await clock.advance(250);
    expect(await first).toMatchObject({ idleSeconds: 0.25 });
    // 80 % busy, but 70 points of it are the VM's: 10 % by others.
    stat = 'cpu 90 0 0 110 0 0 0 0\n';
    vm = '9 (qemu) S 1 1 1 0 -1 0 0 0 0 0 70 0 0 0\n';
    await clock.advance(9750);
    expect(await source.read()).toMatchObject({ idleSeconds: 10 });
    stat = 'cpu 190 0 0 110 0 0 0 0\n';
    await clock.advance(1000);
    expect(await source.read()).toMatchObject({ idleSeconds: 0 });
    expect(await hostLoadSource({ platform: 'darwin' }).probe()).toMatchObject({ status: 'not-applicable' });
  });
});

describe('combining and picking', () => {
  it('is idle only when every source is; unknown wins', async () => {
    const clock = new ManualClock(0);
    const input = fakeIdleSource({ clock, idleSeconds: 100, name: 'input' });
    const load = fakeIdleSource({ clock, idleSeconds: 5, name: 'load' });
    const both = combinedIdleSource(input, load);
    expect(both.name).toBe('input+load');
    expect(await both.read()).toMatchObject({ idleSeconds: 5 });
    load.setUnknown('no /proc');
    expect(await both.read()).toEqual({ unknown: 'load: no /proc' });
    expect(formatReading({ unknown: 'x' })).toBe('unknown: x');
  });
  it('picks the best usable source and explains the others', async () => {
    const a = fakeIdleSource({ name: 'a' });
    const b = fakeIdleSource({ name: 'b' });
    const c = fakeIdleSource({ name: 'c' });
    a.setProbe({ status: 'usable', score: 10 });
    b.setProbe({ status: 'usable', score: 50 });
    c.setProbe({ status: 'not-applicable', score: 0, reason: 'elsewhere' });
    const pick = await pickIdleSource([c, a, b]);
    expect(pick.source).toBe(b);
    expect(pick.candidates.map((x) => x.name)).toEqual(['b', 'a', 'c']);
    expect((await pickIdleSource([c, a, b], { prefer: 'a' })).source).toBe(a);
    await expect(pickIdleSource([a], { prefer: 'zz' })).rejects.toMatchObject({ codeName: 'INVALID_USAGE' });
  });
  it('with nothing usable reads unknown with every reason, never idle', async () => {
    const x11 = x11IdleSource({ env: {} });
    const logind = logindIdleSource({
      runner: replay({ exitCode: 1, stderr: fixture('loginctl-no-systemd.stderr.txt') }).runner,
      env: {},
    });
    const pick = await pickIdleSource([x11, logind, macosIdleSource({ platform: 'linux' })]);
    expect(pick.found).toBe(false);
    const reading = await pick.source.read();
    expect(reading).toHaveProperty('unknown');
    expect((reading as { unknown: string }).unknown).toMatch(
      /x11: no DISPLAY.*logind: no systemd-logind.*macos: not macOS/,
    );
  });
  it('times out a hanging probe on the given clock', async () => {
    const clock = new ManualClock(0);
    const hanging = { ...fakeIdleSource({ name: 'slow' }), probe: () => new Promise<never>(() => {}) };
    const picking = pickIdleSource([hanging, fakeIdleSource({ name: 'quick' })], { timeoutMs: 20, clock });
    await clock.advance(19);
    expect(clock.pending).toBe(1);
    await clock.advance(1);
    const pick = await picking;
    expect(pick.source.name).toBe('quick');
    expect(clock.pending).toBe(0);
    expect(pick.candidates[1]?.probe).toMatchObject({
      status: 'broken',
      reason: 'probe timed out after 20 ms',
    });
  });
  it('honours its signal: rejects aborted, even with a probe that ignores it, and leaves no listener', async () => {
    const hanging = { ...fakeIdleSource({ name: 'slow' }), probe: () => new Promise<never>(() => {}) };
    const already = AbortSignal.abort();
    await expect(pickIdleSource([hanging], { signal: already })).rejects.toMatchObject({
      codeName: 'CONTROL',
      aborted: true,
    });
    const controller = new AbortController();
    const picking = pickIdleSource([hanging], { signal: controller.signal, timeoutMs: 60_000 });
    controller.abort();
    await expect(picking).rejects.toMatchObject({ aborted: true });
    const live = new AbortController();
    await pickIdleSource([fakeIdleSource()], { signal: live.signal });
    expect(getEventListeners(live.signal, 'abort')).toHaveLength(0);
  });
});
