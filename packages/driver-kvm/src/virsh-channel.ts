import { randomBytes } from 'node:crypto';
import { HypervisorError } from '@cvmweb/core';
import {
  type LongRunningProcess,
  type ProcessResult,
  type ProcessRunner,
  processError,
  processResult,
} from '@cvmweb/core/node';

/** Options of {@link VirshChannel}. */
export interface VirshChannelOptions {
  /** The virsh program. */
  virsh: string;
  /** The libvirt URI the channel connects to. */
  uri: string;
  /** Default time box of one command in ms. */
  timeoutMs: number;
  /** Receives one line per command (`virsh <args> (channel)`). */
  onDebug?: ((message: string) => void) | undefined;
}

/** Options of {@link VirshChannel.run}. */
export interface ChannelRunOptions {
  /** Time box of this command in ms (default: the channel's). */
  timeoutMs?: number;
  /** Cancels the command (the virsh process is restarted). */
  signal?: AbortSignal | undefined;
  /** Receives this command's debug line too, besides the channel's own `onDebug`. */
  onDebug?: ((message: string) => void) | undefined;
}

interface Pending {
  readonly marker: string;
  readonly args: readonly string[];
  readonly command: string;
  readonly line: string;
  readonly timeoutMs: number;
  readonly started: number;
  readonly resolve: (result: ProcessResult) => void;
  readonly reject: (error: HypervisorError) => void;
  readonly timer: NodeJS.Timeout;
  readonly onAbort: () => void;
  readonly signal: AbortSignal | undefined;
}

/** Arguments virsh's own command-line parser reads back unchanged when single-quoted. */
const QUOTABLE = /^[^'\\\n\r]*$/;
const PROMPT = 'virsh # ';
const MAX_LINE = 100_000;
const BARE = /^[A-Za-z0-9_@%+=:,./-]+$/;
/**
 * What interactive virsh prints on its own when the daemon goes away and comes back (a libvirtd
 * restart): notices, not the failure of the command they precede.
 */
const CONNECTION_NOTICE = /^error: (Reconnected to the hypervisor|Disconnected from \S+ due to [^\n]*)\n/gm;

/**
 * One long-lived interactive `virsh` per connection. Each command is followed by
 * `echo --err <marker>` and `echo --xml <marker>&`, so its output and error text are the bytes before the
 * markers on each stream. Commands run one at a time; a command that does not finish in its time
 * box kills the process, and the next command starts a new one.
 */
export class VirshChannel {
  readonly #runner: ProcessRunner;
  readonly #options: VirshChannelOptions;
  readonly #prefix = `cvmweb-${randomBytes(6).toString('hex')}-`;
  #counter = 0;
  #process: LongRunningProcess | undefined;
  #stdout = '';
  #stderr = '';
  #pending: Pending | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;
  #echoing = false;

  constructor(runner: ProcessRunner, options: VirshChannelOptions) {
    this.#runner = runner;
    this.#options = options;
  }

  /** True when virsh's parser can carry `args` unchanged (no quote, backslash or line break). */
  static accepts(args: readonly string[]): boolean {
    return args.every((arg) => QUOTABLE.test(arg)) && args.join(' ').length < MAX_LINE;
  }

  /**
   * Runs one virsh command (without `-c`). Resolves with its output; `exitCode` is 1 when virsh
   * reported an error.
   */
  run(args: readonly string[], options: ChannelRunOptions = {}): Promise<ProcessResult> {
    const next = this.#queue.then(() => this.#send(args, options));
    this.#queue = next.catch(() => undefined);
    return next;
  }

  /** Ends the virsh process. Later calls reject. */
  close(): void {
    this.#closed = true;
    this.#kill();
  }

  #send(args: readonly string[], options: ChannelRunOptions): Promise<ProcessResult> {
    const timeoutMs = options.timeoutMs ?? this.#options.timeoutMs;
    const command = processResult('virsh', args).command;
    this.#options.onDebug?.(`${command} (channel)`);
    options.onDebug?.(`${command} (channel)`);
    if (this.#closed)
      return Promise.reject(
        new HypervisorError('EXTERNAL', 'the virsh channel is closed', { details: { command } }),
      );
    if (!VirshChannel.accepts(args)) {
      return Promise.reject(
        new HypervisorError('INVALID_USAGE', 'argument cannot pass through the virsh channel', {
          details: { command },
        }),
      );
    }
    if (options.signal?.aborted) {
      return Promise.reject(
        processError(
          processResult('virsh', args, { exitCode: undefined, isCanceled: true, timeoutMs }),
          'EXTERNAL',
          options.signal.reason,
        ),
      );
    }
    const child = this.#ensure();
    const marker = `${this.#prefix}${++this.#counter}`;
    const line = args.map((arg) => (BARE.test(arg) ? arg : `'${arg}'`)).join(' ');
    const started = Date.now();
    return new Promise<ProcessResult>((resolve, reject) => {
      const ended = (how: { timedOut?: boolean; isCanceled?: boolean }) =>
        processResult('virsh', args, {
          exitCode: undefined,
          ...how,
          stderr: this.#stderr,
          timeoutMs,
          durationMs: Date.now() - started,
        });
      const fail = (error: HypervisorError) => {
        this.#settle();
        this.#kill();
        reject(error);
      };
      const timer = setTimeout(() => fail(processError(ended({ timedOut: true }))), timeoutMs);
      const onAbort = () =>
        fail(processError(ended({ isCanceled: true }), 'EXTERNAL', options.signal?.reason));
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending = {
        marker,
        args,
        command,
        line,
        timeoutMs,
        started,
        resolve,
        reject,
        timer,
        onAbort,
        signal: options.signal,
      };
      this.#stdout = '';
      this.#stderr = '';
      child.stdin.write(`${line}\necho --err ${marker}\necho --xml ${marker}&\n`);
    });
  }

  #ensure(): LongRunningProcess {
    if (this.#process) return this.#process;
    // A wide "terminal" keeps readline from wrapping the echo of long lines.
    const child = this.#runner.spawn(this.#options.virsh, ['-q', '-c', this.#options.uri], {
      env: { COLUMNS: '1000000' },
    });
    this.#process = child;
    this.#echoing = false;
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      this.#stdout += chunk;
      this.#check();
    });
    child.stderr.on('data', (chunk: string) => {
      this.#stderr += chunk;
      this.#check();
    });
    void child.exited.then(() => {
      if (this.#process !== child) return;
      this.#process = undefined;
      const pending = this.#pending;
      if (pending) {
        this.#settle();
        pending.reject(
          new HypervisorError('EXTERNAL', `${pending.command}: virsh exited`, {
            details: { command: pending.command, stderr: this.#stderr },
          }),
        );
      }
    });
    return child;
  }

  #check(): void {
    const pending = this.#pending;
    if (!pending) return;
    // Interactive virsh (with readline) prints a prompt and echoes each line it reads; neither is output.
    // Once a prompt was seen, every command line is echoed (the prompt may have come with the
    // previous command's output).
    this.#echoing ||= this.#stdout.includes(PROMPT);
    const echoing = this.#echoing;
    let stdout = this.#stdout.replaceAll(PROMPT, '');
    if (echoing) {
      const echo = `${pending.line}\n`;
      if (stdout.length >= echo.length && !stdout.startsWith(echo)) {
        this.#settle();
        this.#kill();
        pending.reject(
          new HypervisorError('EXTERNAL', `${pending.command}: the virsh channel is out of step`, {
            details: { command: pending.command },
          }),
        );
        return;
      }
      if (!stdout.startsWith(echo)) return;
      stdout = stdout.slice(echo.length);
    }
    // The end marker is printed XML-escaped, so a (possibly partial) echo of its command line,
    // which holds the bare `&`, never matches it.
    const at = stdout.indexOf(`${pending.marker}&amp;`);
    if (at < 0) return;
    stdout = stdout
      .slice(0, at)
      .replace(`echo --err ${pending.marker}\n`, '')
      .replace(`echo --xml ${pending.marker}&\n`, '');
    const errorLine = `error: ${pending.marker}`;
    const errAt = this.#stderr.indexOf(errorLine);
    if (errAt < 0) return;
    const stderr = this.#stderr.slice(0, errAt).replace(CONNECTION_NOTICE, '');
    this.#settle();
    const failed = /^error: /m.test(stderr);
    pending.resolve(
      processResult('virsh', pending.args, {
        stdout,
        stderr,
        exitCode: failed ? 1 : 0,
        timeoutMs: pending.timeoutMs,
        durationMs: Date.now() - pending.started,
      }),
    );
  }

  #settle(): void {
    const pending = this.#pending;
    if (!pending) return;
    this.#pending = undefined;
    clearTimeout(pending.timer);
    pending.signal?.removeEventListener('abort', pending.onAbort);
  }

  #kill(): void {
    const child = this.#process;
    this.#process = undefined;
    child?.kill();
  }
}
