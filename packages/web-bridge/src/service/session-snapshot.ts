import type { Session, SessionRecord } from '@cvmweb/core';
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

/** A session as a privileged origin's `listSessions` sees it: no owner hash, user data or properties. */
export function sessionSummary(record: SessionRecord) {
  return {
    id: record.id,
    scope: record.scope,
    name: record.name,
    state: record.state,
    hibernated: record.hibernated,
    requirements: record.requirements,
    executionCap: record.executionCap,
    daemon: record.daemon,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
}
