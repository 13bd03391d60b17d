import { HypervisorError } from '../errors/hypervisor-error.js';
import type { Requirements } from '../registry/session-record.js';

/** The original plugin's `open()` defaults: 1 CPU, 256 MiB RAM, 1024 MiB disk, CernVM micro version '1.3'. */
export const defaultRequirements: Readonly<Requirements> = Object.freeze({
  cpus: 1,
  ram: 256,
  disk: 1024,
  version: '1.3',
});

/** Accepted ranges of each numeric requirement (inclusive). */
export const requirementLimits = Object.freeze({
  /** Virtual CPUs. */
  cpus: {
    /** The fewest. */
    min: 1,
    /** The most. */
    max: 64,
  },
  /** Memory in MiB. */
  ram: {
    /** The least. */
    min: 32,
    /** The most. */
    max: 1024 * 1024,
  },
  /** Scratch disk in MiB; 0 means no scratch disk. */
  disk: {
    /** The least (no scratch disk). */
    min: 0,
    /** The most. */
    max: 2 * 1024 * 1024,
  },
});

/** Allowed form of an image version (catalog key). */
export const versionPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Inclusive range of the execution cap, in percent. */
export const executionCapLimits = Object.freeze({
  /** The lowest cap, in percent. */
  min: 1,
  /** The highest cap: the VM may use all the time of its CPUs. */
  max: 100,
});

/**
 * Validates the argument of `open()` and fills in the original plugin's defaults.
 *
 * Decisions where the original plugin is vague: every field is optional; numbers must be
 * integers within {@link requirementLimits} (a numeric string such as `"2"` is
 * refused, as is `2.5`); unknown fields are refused so a typo such as `{ rma: 512 }`
 * is not silently ignored. Every refusal is `INVALID_USAGE` (-99) with
 * `details.field` naming the field.
 */
export function validateRequirements(input: unknown): Requirements {
  if (input === undefined || input === null) return { ...defaultRequirements };
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw usage(
      'requirements',
      'open() takes an object such as { cpus: 1, ram: 256, disk: 1024, version: "1.3" }',
    );
  }
  const record = input as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!Object.hasOwn(defaultRequirements, key)) {
      throw usage(key, `unknown requirement "${truncate(key)}"; known: cpus, ram, disk, version`);
    }
  }
  const result = { ...defaultRequirements };
  for (const field of ['cpus', 'ram', 'disk'] as const) {
    const value = record[field];
    if (value === undefined) continue;
    const { min, max } = requirementLimits[field];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw usage(field, `requirement ${field} must be an integer from ${min} to ${max}`);
    }
    result[field] = value;
  }
  if (record['version'] !== undefined) {
    const version = record['version'];
    if (typeof version !== 'string' || !versionPattern.test(version)) {
      throw usage('version', 'requirement version must be 1–64 letters, digits, ".", "_" or "-"');
    }
    result.version = version;
  }
  return result;
}

/** Validates an execution cap: an integer from 1 to 100. */
export function validateExecutionCap(cap: unknown, field = 'cap'): number {
  const { min, max } = executionCapLimits;
  if (typeof cap !== 'number' || !Number.isInteger(cap) || cap < min || cap > max) {
    throw usage(field, `the execution cap must be an integer from ${min} to ${max}`);
  }
  return cap;
}

function usage(field: string, message: string): HypervisorError {
  return new HypervisorError('INVALID_USAGE', message, { details: { field } });
}

function truncate(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
