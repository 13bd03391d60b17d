import { readFileSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { HypervisorError } from '@cvmweb/core';
import { writeFileAtomic } from '@cvmweb/core/node';
import {
  type BridgePolicy,
  bridgePolicySchema,
  defaultLimits,
  defaultPolicy,
  type OriginDecision,
} from './bridge-policy.js';
import { normalizeOrigin } from './normalize-origin.js';

/** Options of {@link PolicyStore.open}. */
export interface PolicyStoreOptions {
  /** The policy file; absent: an in-memory policy that starts as {@link defaultPolicy}. */
  file?: string;
  /** A starting policy for an in-memory store (tests, embedding). */
  initial?: Partial<BridgePolicy>;
  /** How often, at most, the file's modification time is checked for edits by hand. Default 1000 ms. */
  recheckMs?: number;
}

/**
 * The policy file, kept current: edits by hand are picked up (checked at most
 * once a second), remembered decisions and revocations are written atomically
 * and durably (core's `writeFileAtomic`).
 */
export class PolicyStore {
  readonly #file: string | undefined;
  readonly #recheckMs: number;
  #policy: BridgePolicy;
  #mtime = 0;
  #checkedAt = 0;
  #writing: Promise<void> = Promise.resolve();

  private constructor(file: string | undefined, policy: BridgePolicy, recheckMs: number) {
    this.#file = file;
    this.#policy = policy;
    this.#recheckMs = recheckMs;
  }

  /**
   * Opens the policy at `options.file` (a missing file is the default policy).
   *
   * @throws `HypervisorError` `INVALID_USAGE` when the file is not a valid policy (details `{ file, issues }`).
   */
  static async open(options: PolicyStoreOptions = {}): Promise<PolicyStore> {
    const initial = normalizePolicy({ ...defaultPolicy, ...options.initial });
    const store = new PolicyStore(options.file, initial, options.recheckMs ?? 1000);
    if (options.file) store.#reload(true);
    return store;
  }

  /** The policy file, if any. */
  get file(): string | undefined {
    return this.#file;
  }

  /** The current policy. */
  get policy(): BridgePolicy {
    this.#maybeReload();
    return this.#policy;
  }

  /** The remembered decision for `origin`: `allow`, `deny`, or `ask` when none. */
  decision(origin: string): OriginDecision {
    return this.policy.origins[origin] ?? 'ask';
  }

  /** True when the policy file lists `origin` as privileged. */
  isPrivileged(origin: string): boolean {
    return this.policy.privileged.includes(origin);
  }

  /** Remembers `decision` for `origin` ("allow/deny and don't ask again"). */
  remember(origin: string, decision: 'allow' | 'deny'): Promise<void> {
    return this.#change((policy) => ({ ...policy, origins: { ...policy.origins, [origin]: decision } }));
  }

  /** Forgets the remembered decision for `origin`: the person is asked again. */
  revoke(origin: string): Promise<void> {
    return this.#change((policy) => {
      const { [origin]: _gone, ...origins } = policy.origins;
      return { ...policy, origins };
    });
  }

  #change(edit: (policy: BridgePolicy) => BridgePolicy): Promise<void> {
    const run = this.#writing.then(async () => {
      this.#maybeReload(true);
      const next = edit(this.#policy);
      this.#policy = next;
      if (!this.#file) return;
      await mkdir(dirname(this.#file), { recursive: true, mode: 0o700 });
      // Flushed to disk before the rename (and the directory after it): a crash or power loss
      // leaves the old policy or the new one, never a torn or empty file.
      await writeFileAtomic(this.#file, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 });
      this.#mtime = statSync(this.#file).mtimeMs;
    });
    this.#writing = run.catch(() => undefined);
    return run.catch((error: unknown) => {
      throw new HypervisorError('IO', `could not write the policy file ${this.#file}`, {
        cause: error,
        details: { file: this.#file },
      });
    });
  }

  #maybeReload(force = false): void {
    if (!this.#file) return;
    const now = Date.now();
    if (!force && now - this.#checkedAt < this.#recheckMs) return;
    this.#checkedAt = now;
    try {
      this.#reload(false);
    } catch {
      // A file broken by hand keeps the last good policy until it is fixed.
    }
  }

  #reload(strict: boolean): void {
    const file = this.#file!;
    let mtime: number;
    try {
      mtime = statSync(file).mtimeMs;
    } catch {
      if (this.#mtime !== 0) {
        this.#policy = defaultPolicy;
        this.#mtime = 0;
      }
      return;
    }
    if (mtime === this.#mtime && !strict) return;
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file, 'utf8'));
    } catch (error) {
      throw new HypervisorError('INVALID_USAGE', `the policy file ${file} is not JSON`, {
        cause: error,
        details: { file },
      });
    }
    const parsed = bridgePolicySchema.safeParse(raw);
    if (!parsed.success) {
      throw new HypervisorError('INVALID_USAGE', `the policy file ${file} is not a valid policy`, {
        details: {
          file,
          issues: parsed.error.issues.slice(0, 10).map((i) => `${i.path.join('.')}: ${i.message}`),
        },
      });
    }
    this.#policy = normalizePolicy({
      ...parsed.data,
      limits: { ...defaultLimits, ...stripUndefined(parsed.data.limits) },
    });
    this.#mtime = mtime;
  }
}

/** Canonicalises the origins of a policy (decisions and privileged list); drops entries that are not origins. */
function normalizePolicy(policy: BridgePolicy): BridgePolicy {
  const origins: Record<string, OriginDecision> = {};
  for (const [origin, decision] of Object.entries(policy.origins)) {
    const canonical = normalizeOrigin(origin);
    if (canonical) origins[canonical] = decision;
  }
  const privileged = policy.privileged.flatMap((origin) => normalizeOrigin(origin) ?? []);
  return { ...policy, origins, privileged, limits: { ...defaultLimits, ...policy.limits } };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
