import { HypervisorError } from '@cvmweb/core/browser';
import { PROTOCOL_VERSION } from '../protocol/protocol-version.js';

declare const __CVMWEB_CLIENT_VERSION__: string | undefined;

/** This client's package version (set when the package is built). */
export const CLIENT_VERSION: string =
  typeof __CVMWEB_CLIENT_VERSION__ === 'string' ? __CVMWEB_CLIENT_VERSION__ : 'development';

/**
 * `NOT_SUPPORTED` (-11) with `details.reason` `protocol` when the service
 * speaks another bridge protocol than this client, naming both versions;
 * `undefined` when they match.
 */
export function protocolMismatch(
  serviceProtocol: unknown,
  serviceVersion: unknown,
): HypervisorError | undefined {
  if (serviceProtocol === PROTOCOL_VERSION) return undefined;
  const service = `the cvmweb service ${String(serviceVersion ?? 'of unknown version')} on this computer speaks bridge protocol ${String(serviceProtocol)}`;
  const older = typeof serviceProtocol === 'number' && serviceProtocol < PROTOCOL_VERSION;
  return new HypervisorError(
    'NOT_SUPPORTED',
    `this page's cvmweb client ${CLIENT_VERSION} speaks bridge protocol ${PROTOCOL_VERSION}, but ${service}: ${older ? 'update cvmweb on this computer' : 'the site must update its cvmweb client'}`,
    {
      details: {
        reason: 'protocol',
        clientProtocol: PROTOCOL_VERSION,
        clientVersion: CLIENT_VERSION,
        serviceProtocol,
        serviceVersion,
      },
    },
  );
}
