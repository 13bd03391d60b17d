import * as z from 'zod';

/** What the policy says about an origin: always allow, always deny, or ask the person (the default). */
export type OriginDecision = 'allow' | 'deny' | 'ask';

/** Local caps on what a page may ask for. */
export interface ResourceLimits {
  /** Most virtual CPUs of one session. */
  readonly cpus: number;
  /** Most memory of one session, MiB. */
  readonly ram: number;
  /** Most scratch disk of one session, MiB. */
  readonly disk: number;
  /** Most sessions of one origin holding a VM at once (state other than Closed). */
  readonly sessions: number;
  /** Most session names one origin may own in the registry. */
  readonly names: number;
}

/**
 * The bridge's policy file (`<state-dir>/bridge-policy.json` unless `--policy`
 * names another): remembered decisions per origin, privileged origins and
 * resource limits.
 *
 * @example
 * ```json
 * {
 *   "version": 1,
 *   "origins": { "https://lhcathome.example": "allow", "https://ads.example": "deny" },
 *   "privileged": ["https://cernvm.example"],
 *   "limits": { "cpus": 2, "ram": 4096, "disk": 20480, "sessions": 2, "names": 16 },
 *   "denialWindowSeconds": 5,
 *   "denialCooldownSeconds": 60
 * }
 * ```
 */
export interface BridgePolicy {
  /** Format version, 1. */
  readonly version: 1;
  /** Remembered decisions by origin (`https://host[:port]`); origins not listed are `ask`. */
  readonly origins: Readonly<Record<string, OriginDecision>>;
  /** Origins with the daemon's write controls and a list of all sessions. Only ever configured here. */
  readonly privileged: readonly string[];
  /** Resource caps per session and per origin. */
  readonly limits: ResourceLimits;
  /** Two denials of an origin within this many seconds block it (default 5, as in the original plugin). */
  readonly denialWindowSeconds: number;
  /** How long an origin stays blocked after two denials within {@link BridgePolicy.denialWindowSeconds}. */
  readonly denialCooldownSeconds: number;
}

/** The limits used when the policy file sets none: 2 CPUs, 4 GiB RAM, 20 GiB disk, 2 running sessions, 16 names. */
export const defaultLimits: ResourceLimits = Object.freeze({
  cpus: 2,
  ram: 4096,
  disk: 20480,
  sessions: 2,
  names: 16,
});

/**
 * The policy when there is no file: ask for every origin, no privileged origin,
 * {@link defaultLimits}, two denials within 5 s block for a 60 s cool-down.
 */
export const defaultPolicy: BridgePolicy = Object.freeze({
  version: 1,
  origins: Object.freeze({}),
  privileged: Object.freeze([]) as readonly string[],
  limits: defaultLimits,
  denialWindowSeconds: 5,
  denialCooldownSeconds: 60,
});

const count = z.number().int().min(0).max(1_000_000_000);

/** The schema of the policy file; missing fields take the defaults. */
export const bridgePolicySchema = z.strictObject({
  version: z.literal(1),
  origins: z.record(z.string().max(300), z.enum(['allow', 'deny', 'ask'])).default({}),
  privileged: z.array(z.string().max(300)).max(1000).default([]),
  limits: z
    .strictObject({
      cpus: count.optional(),
      ram: count.optional(),
      disk: count.optional(),
      sessions: count.optional(),
      names: count.optional(),
    })
    .default({}),
  denialWindowSeconds: z.number().int().min(0).max(86_400).default(5),
  denialCooldownSeconds: z.number().int().min(0).max(86_400).default(60),
});
