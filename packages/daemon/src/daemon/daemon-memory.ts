import type { Hold } from '../policy/daemon-policy.js';
import {
  type DaemonFileContent,
  DEFAULT_IDLE_TIME,
  type LastAction,
  readDaemonFile,
  validateIdleTime,
  writeDaemonFile,
} from './daemon-file.js';

/** Options of {@link DaemonMemory}. */
export interface DaemonMemoryOptions {
  /** Where `daemon.json` lives; without it nothing is read or written. */
  stateDir: string | undefined;
  /** An `idleTime` given by the caller: it wins over the file's. */
  idleTime: number | undefined;
  /** The ids of the sessions that still exist: only theirs are written. */
  liveIds(): Iterable<string>;
  /** Told when the file cannot be read or written. */
  onWarning(message: string): void;
}

/**
 * What the daemon remembers, as `daemon.json` holds it: `idleTime`, the sessions it paused
 * or hibernated itself (its holds) and its last action on each session. Loaded once, at the
 * first start; written on request, writes requested while one runs coalescing into one more.
 */
export class DaemonMemory {
  /** Sessions the daemon paused or hibernated itself. */
  readonly holds = new Map<string, Hold>();
  /** The daemon's last action per session. */
  readonly lastActions = new Map<string, LastAction>();
  readonly #options: DaemonMemoryOptions;
  #idleTime: number;
  #idleTimeGiven: boolean;
  #loaded = false;
  #writing: Promise<void> | undefined;
  #dirty = false;

  constructor(options: DaemonMemoryOptions) {
    this.#options = options;
    this.#idleTimeGiven = options.idleTime !== undefined;
    this.#idleTime = options.idleTime === undefined ? DEFAULT_IDLE_TIME : validateIdleTime(options.idleTime);
  }

  /** Seconds without input before the system counts as idle. */
  get idleTime(): number {
    return this.#idleTime;
  }

  /** Sets `idleTime` (validated, else `INVALID_USAGE`); it then wins over the file's. Not written yet. */
  setIdleTime(seconds: number): void {
    this.#idleTime = validateIdleTime(seconds);
    this.#idleTimeGiven = true;
  }

  /** The write under way, if any. */
  get writing(): Promise<void> | undefined {
    return this.#writing;
  }

  /** Reads `daemon.json` if it was never taken in; nothing changes until {@link DaemonMemory.apply}. */
  async load(): Promise<DaemonFileContent | undefined> {
    if (this.#loaded || !this.#options.stateDir) return undefined;
    return readDaemonFile(this.#options.stateDir, this.#options.onWarning);
  }

  /** Takes in what {@link DaemonMemory.load} read (once: later calls do nothing). */
  apply(content: DaemonFileContent | undefined): void {
    if (this.#loaded || !this.#options.stateDir) return;
    this.#loaded = true;
    if (!content) return;
    if (!this.#idleTimeGiven) this.#idleTime = content.idleTime;
    for (const [id, hold] of Object.entries(content.holds)) this.holds.set(id, hold);
    for (const [id, last] of Object.entries(content.lastActions)) this.lastActions.set(id, last);
  }

  /** Writes `daemon.json`; writes requested while one runs are coalesced into one more. Never rejects. */
  persist(): Promise<void> {
    const { stateDir } = this.#options;
    if (!stateDir) return Promise.resolve();
    this.#dirty = true;
    this.#writing ??= (async () => {
      try {
        while (this.#dirty) {
          this.#dirty = false;
          try {
            await writeDaemonFile(stateDir, this.#content());
          } catch (error) {
            this.#options.onWarning(`cannot write the daemon file: ${String(error)}`);
          }
        }
      } finally {
        this.#writing = undefined;
      }
    })();
    return this.#writing;
  }

  #content(): DaemonFileContent {
    const live = new Set(this.#options.liveIds());
    const pick = <T>(map: Map<string, T>) => Object.fromEntries([...map].filter(([id]) => live.has(id)));
    return {
      version: 1,
      idleTime: this.#idleTime,
      holds: pick(this.holds),
      lastActions: pick(this.lastActions),
    };
  }
}
