import type { Session } from '@cvmweb/core';
import type { SessionSnapshot } from '../protocol/server-frame.js';

/** The properties of `session` as pushed to clients. */
export function sessionSnapshot(session: Session): SessionSnapshot {
  return {
    id: session.id,
    name: session.name,
    state: session.state,
    hibernated: session.hibernated,
    cpus: session.cpus,
    ram: session.ram,
    disk: session.disk,
    version: session.version,
    executionCap: session.executionCap,
    ip: session.ip,
    apiURL: session.apiURL,
    rdpURL: session.rdpURL,
    daemonControlled: session.daemonControlled,
    daemonMinCap: session.daemonMinCap,
    daemonMaxCap: session.daemonMaxCap,
    daemonFlags: session.daemonFlags,
  };
}
