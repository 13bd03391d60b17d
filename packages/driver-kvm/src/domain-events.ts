import type { VmPowerState } from '@cvmweb/core';
import type { LongRunningProcess, ProcessRunner } from '@cvmweb/core/node';

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
  /**
   * How long a started stream may stay silent about its registration before it is taken as
   * listening anyway, in ms (default 2000; see {@link DomainEvents.onResync}).
   */
  listeningFallbackMs?: number;
}

/** Starts that end within a second, in a row, after which the stream is given up. */
const MAX_FAILED_STARTS = 10;
const LIFECYCLE = /^(?:\S+ \S+: )?event 'lifecycle' for domain '(.*)': (\S+)(?: (.*))?$/;
/**
 * libvirt's client library logs each event registration as it begins (with the environment
 * below): the one of an event after the lifecycle event (id 0) means lifecycle events flow.
 */
const REGISTERING = /virConnectDomainEventRegisterAny\b.*\beventID=([1-9]\d*)/;
const REGISTRATION_LOG = { LIBVIRT_LOG_FILTERS: '1:libvirt.domain', LIBVIRT_LOG_OUTPUTS: '1:stderr' };

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
 * libvirtd restarts. Events only wake waiters up; states are still read with `domstate`. What
 * happened while no stream listened is lost: {@link DomainEvents.onResync} says when to re-read.
 */
export class DomainEvents {
  readonly #runner: ProcessRunner;
  readonly #options: DomainEventsOptions;
  readonly #listeners = new Set<(event: DomainEvent) => void>();
  readonly #resyncs = new Set<() => void>();
  #process: LongRunningProcess | undefined;
  #timer: NodeJS.Timeout | undefined;
  #delay: number;
  #failures = 0;
  #closed = false;
  /** A stream ended since the last one listened: events may have been missed. */
  #gap = false;
  /** libvirt logged a registration for an earlier stream, so a later one waits for its line. */
  #logsRegistration = false;

  constructor(runner: ProcessRunner, options: DomainEventsOptions) {
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

  /**
   * Calls `listener` each time a restarted stream listens again after a gap (the previous stream
   * ended: libvirtd restarted, the connection dropped), when events of the gap may have been
   * missed; returns the unsubscribe function. "Listens" means libvirt's client library began
   * registering the event after the lifecycle one (its debug log, which the stream's `virsh`
   * writes to standard error), or, with a libvirt that never logged such a line here, that the
   * stream ran for `listeningFallbackMs`. A state read after this call sees every change the
   * stream did not report.
   */
  onResync(listener: () => void): () => void {
    this.#resyncs.add(listener);
    return () => {
      this.#resyncs.delete(listener);
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
    const child = this.#runner.spawn(
      this.#options.virsh,
      ['-c', this.#options.uri, 'event', '--loop', '--all', '--timestamp'],
      { env: REGISTRATION_LOG },
    );
    this.#process = child;
    let listening = false;
    const listens = () => {
      clearTimeout(fallback);
      if (listening || this.#process !== child) return;
      listening = true;
      if (!this.#gap) return;
      this.#gap = false;
      this.#options.onDebug?.('virsh event listens again; re-reading the state of watched domains');
      for (const listener of [...this.#resyncs]) listener();
    };
    const fallback = setTimeout(() => {
      if (!this.#logsRegistration) listens();
    }, this.#options.listeningFallbackMs ?? 2000);
    fallback.unref();
    let errors = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      if (listening) return;
      errors = (errors + chunk).slice(-4096);
      if (!REGISTERING.test(errors)) return;
      this.#logsRegistration = true;
      listens();
    });
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
    void child.exited.then(() => {
      clearTimeout(fallback);
      if (this.#process !== child) return;
      this.#process = undefined;
      if (this.#closed) return;
      this.#gap = true;
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
