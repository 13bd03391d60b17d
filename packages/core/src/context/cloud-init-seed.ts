import { HypervisorError } from '../errors/hypervisor-error.js';
import type { ContextIsoLayout } from './context-iso-layout.js';

/** The volume label cloud-init's NoCloud data source looks for. */
export const CLOUD_INIT_VOLUME_ID = 'cidata';

/** Options of {@link cloudInitSeedFiles}. */
export interface CloudInitSeedOptions {
  /** The user data, stored verbatim (UTF-8) as `user-data`. */
  readonly userData: string;
  /**
   * The instance id: 1–128 characters of `A-Z a-z 0-9 . _ : -`, starting with a
   * letter or digit. cloud-init runs its once-per-instance modules again when it changes.
   */
  readonly instanceId: string;
  /** The guest's host name: an RFC 1123 name of at most 253 characters, such as `vm-1.example`. */
  readonly hostname: string;
}

const INSTANCE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const HOSTNAME_LABEL_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/**
 * The layout of a cloud-init NoCloud seed: volume `cidata` holding `user-data`
 * (the user data verbatim) and `meta-data`:
 *
 * ```yaml
 * instance-id: 'iid-1234'
 * local-hostname: 'vm-1'
 * ```
 *
 * The values are validated against strict character sets and single-quoted,
 * so they can neither inject YAML nor be read as numbers, booleans or null.
 *
 * @throws {HypervisorError} `INVALID_USAGE` with `details.field` `userData`,
 *   `instanceId` or `hostname` when a value is invalid.
 */
export function cloudInitSeedFiles(
  options: CloudInitSeedOptions,
): ContextIsoLayout & { readonly volumeId: 'cidata' } {
  const { userData, instanceId, hostname } = options;
  if (typeof userData !== 'string') throw invalid('userData', 'The user data must be a string');
  if (typeof instanceId !== 'string' || !INSTANCE_ID_PATTERN.test(instanceId)) {
    throw invalid(
      'instanceId',
      'The instance id must be 1 to 128 characters of A-Z, a-z, 0-9, ., _, : and -, starting with a letter or digit',
    );
  }
  if (!isHostname(hostname)) {
    throw invalid('hostname', 'The host name must be an RFC 1123 host name of at most 253 characters');
  }
  const metaData = `instance-id: '${instanceId}'\nlocal-hostname: '${hostname}'\n`;
  return {
    volumeId: CLOUD_INIT_VOLUME_ID,
    files: [
      { name: 'user-data', data: userData },
      { name: 'meta-data', data: metaData },
    ],
  };
}

function isHostname(hostname: unknown): hostname is string {
  return (
    typeof hostname === 'string' &&
    hostname.length <= 253 &&
    hostname.split('.').every((label) => HOSTNAME_LABEL_PATTERN.test(label))
  );
}

function invalid(field: string, message: string): HypervisorError {
  return new HypervisorError('INVALID_USAGE', message, { details: { field } });
}
