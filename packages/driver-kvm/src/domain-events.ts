import type { VmPowerState } from '@cvmweb/core';
import type { LongRunning, Runner } from './runner.js';

/** One libvirt lifecycle event of a domain, as `virsh event` prints it. */
export interface DomainEvent {
  /** The domain's name. */
  readonly domain: string;
  /** libvirt's event (`Started`, `Suspended`, `Resumed`, `Stopped`, `Shutdown`, `Crashed`, …). */
  readonly event: string;
  /** libvirt's detail (`Booted`, `Paused`, `Shutdown`, `Destroyed`, `Saved`, …). */
  readonly detail: string;
  /** The power state the event leads to, when it says (a hint: `state()` stays the truth). */
  readonly state?: VmPowerState;
}

/** Options of {@link DomainEvents}. */
export interface DomainEventsOptions {
  virsh: string;
  uri: string;
  /** Receives a line when the stream starts or ends. */
  onDebug?: ((message: string) => void) | undefined;
  /** First delay before a restart after the stream ended, in ms (doubles up to 2 s). */
  restartDelayMs?: number;
}

/** Starts that end within a second, in a row, after which the stream is given up. */
const MAX_FAILED_STARTS = 10;
const LIFECYCLE = /^(?:\S+ \S+: )?event 'lifecycle' for domain '(.*)': (\S+)(?: (.*))?$/;

/** A `virsh event` lifecycle line as a {@link DomainEvent}, or `undefined` for any other line. */
export function parseDomainEvent(line: string): DomainEvent | undefined {
  const match = LIFECYCLE.exec(line.trimEnd());
  if (!match?.[1] || !match[2]) return undefined;
  const event = match[2];
  const detail = match[3]?.trim() ?? '';
  const state = eventState(event, detail);
  return { domain: match[1], event, detail, ...(state ? { state } : {}) };
}

function eventState(event: string, detail: string): VmPowerState | undefined {
  switch (event) {
    case 'Started':
    case 'Resumed':
      return 'running';
    case 'Suspended':
    case 'PMSuspended':
      return 'paused';
    case 'Stopped':
      return detail === 'Saved' ? 'saved' : 'poweroff';
    case 'Crashed':
      return 'error';
    default:
      return undefined;
  }
}

/**
 * libvirt's event stream of one connection: one long-lived `virsh event --loop --all --timestamp`,
 * started with the first subscriber and restarted (with back-off) whenever it ends — it does when
 * libvirtd restarts. Events only wake waiters up; states are still read with `domstate`.
 */
export class DomainEvents {
  readonly #runner: Runner;
  readonly #options: DomainEventsOptions;
  readonly #listeners = new Set<(event: DomainEvent) => void>();
  #process: LongRunning | undefined;
  #timer: NodeJS.Timeout | undefined;
  #delay: number;
  #failures = 0;
  #closed = false;

  constructor(runner: Runner, options: DomainEventsOptions) {
    this.#runner = runner;
    this.#options = options;
    this.#delay = options.restartDelayMs ?? 100;
  }

  /** Calls `listener` with every lifecycle event; returns the unsubscribe function. */
  subscribe(listener: (event: DomainEvent) => void): () => void {
    this.#listeners.add(listener);
    if (!this.#process && !this.#timer) this.#start();
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Ends the stream for good. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const child = this.#process;
    this.#process = undefined;
    child?.kill();
  }

  #start(): void {
    if (this.#closed) return;
    const started = Date.now();
    const child = this.#runner.spawn(this.#options.virsh, [
      '-c',
      this.#options.uri,
      'event',
      '--loop',
      '--all',
      '--timestamp',
    ]);
    this.#process = child;
    let buffer = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffer += chunk;
      let at = buffer.indexOf('\n');
      while (at >= 0) {
        const event = parseDomainEvent(buffer.slice(0, at));
        buffer = buffer.slice(at + 1);
        at = buffer.indexOf('\n');
        if (!event) continue;
        for (const listener of [...this.#listeners]) listener(event);
      }
    });
    child.stderr.resume();
    void child.exited.then(() => {
      if (this.#process !== child) return;
      this.#process = undefined;
      if (this.#closed) return;
      // A stream that ran a while ended (a daemon restart): come back quickly; one that could not
      // start backs off, and after many such failures in a row polling alone is left.
      const ranFor = Date.now() - started;
      this.#failures = ranFor > 1000 ? 0 : this.#failures + 1;
      if (this.#failures >= MAX_FAILED_STARTS) {
        this.#options.onDebug?.(`virsh event failed ${this.#failures} times in a row; polling only`);
        return;
      }
      this.#delay = ranFor > 10_000 ? (this.#options.restartDelayMs ?? 100) : this.#delay;
      this.#options.onDebug?.(`virsh event ended; restarting in ${this.#delay} ms`);
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#start();
      }, this.#delay);
      this.#timer.unref();
      this.#delay = Math.min(this.#delay * 2, 2000);
    });
  }
}
