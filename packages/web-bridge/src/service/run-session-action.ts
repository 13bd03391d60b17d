import { type HypervisorError, type Session, SessionState, validateRequirements } from '@cvmweb/core';
import { checkRequirements, checkSessionCount } from '../policy/check-requirements.js';
import type { ClientFrame } from '../protocol/client-frame.js';
import type { SessionSnapshot } from '../protocol/server-frame.js';
import type { ConnectionContext } from './connection-context.js';
import { sessionSnapshot } from './session-snapshot.js';

/** A frame acting on a session the connection holds (`release` and `console` are the connection's own). @internal */
export type SessionActionFrame = Exclude<
  Extract<ClientFrame, { session: string }>,
  { op: 'release' | 'console' }
>;

/**
 * Runs a page's action on `session` and answers with the value and the
 * session's snapshot (none for `getProperty`, a read). `open` is held to the
 * local policy's resource limits first; a refusal is told through `refused`
 * (it is not pre-flight: the page's `openError` hears of it). @internal
 */
export async function runSessionAction(
  session: Session,
  frame: SessionActionFrame,
  context: ConnectionContext,
  origin: string,
  refused: (session: Session, action: 'open', error: HypervisorError) => void,
): Promise<{ value: unknown; snapshot?: SessionSnapshot }> {
  switch (frame.op) {
    case 'open': {
      const requirements = validateRequirements(frame.requirements);
      const { limits } = context.policy.policy;
      // Sessions holding a VM, and those other requests are opening (counted before the first
      // await, so opens sent together cannot all pass the limit).
      const { cvmweb, opening } = context;
      const holding = new Set(
        cvmweb
          .sessions(origin)
          .filter((r) => r.state !== SessionState.Closed)
          .map((r) => r.id),
      );
      for (const other of opening.keys(origin)) holding.add(other);
      holding.delete(session.id);
      try {
        checkRequirements(requirements, limits);
        checkSessionCount(origin, holding.size, limits);
      } catch (error) {
        refused(session, 'open', error as HypervisorError);
        throw error;
      }
      const release = opening.reserve(origin, session.id);
      try {
        await session.open(requirements);
      } finally {
        release();
      }
      break;
    }
    case 'start':
      await session.start(frame.userData ?? '', frame.values ? { values: frame.values } : undefined);
      break;
    case 'pause':
      await session.pause();
      break;
    case 'resume':
      await session.resume();
      break;
    case 'reset':
      await session.reset();
      break;
    case 'stop':
      await session.stop();
      break;
    case 'hibernate':
      await session.hibernate();
      break;
    case 'close':
      await session.close();
      break;
    case 'setExecutionCap':
      await session.setExecutionCap(frame.cap);
      break;
    case 'setProperty':
      await session.setProperty(frame.name, frame.value);
      break;
    case 'getProperty':
      // A read changes nothing: no snapshot, which keeps the cheapest action cheap.
      return { value: await session.getProperty(frame.name) };
    case 'setDaemon': {
      const { controlled, minCap, maxCap, flags } = frame.settings;
      await session.setDaemonSettings({
        ...(controlled !== undefined ? { controlled } : {}),
        ...(minCap !== undefined ? { minCap } : {}),
        ...(maxCap !== undefined ? { maxCap } : {}),
        ...(flags !== undefined ? { flags } : {}),
      });
      break;
    }
  }
  return { value: null, snapshot: sessionSnapshot(session) };
}
