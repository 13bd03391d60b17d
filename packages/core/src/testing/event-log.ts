import type { Session } from '../session/session.js';
import { originalEventNames, type SessionEvents } from '../session/session-events.js';

/** Events of one session, recorded by {@link record}. */
export interface EventLog {
  /** Names of the original plugin's events, in order. */
  events: string[];
  /** Each `stateChanged` as `[state, previous]`. */
  states: Array<[number, number]>;
  /** Each `progress` as `[done, total, message]`. */
  progress: Array<[number, number, string]>;
}

const recorded = originalEventNames.filter((event) => event !== 'progress' && event !== 'debug');

/** Records a session's events for assertions. */
export function record(session: Session): EventLog {
  const log: EventLog = { events: [], states: [], progress: [] };
  for (const event of recorded) session.on(event, () => log.events.push(event));
  session.on('stateChanged', (state, previous) => log.states.push([state, previous]));
  session.on('progress', (done, total, message) => log.progress.push([done, total, message]));
  return log;
}

/** Resolves with the arguments of the next `event`, or rejects after `timeoutMs`. */
export function waitFor<K extends keyof SessionEvents>(
  session: Session,
  event: K,
  timeoutMs: number,
): Promise<SessionEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${String(event)} within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = session.on(event, (...args) => {
      clearTimeout(timer);
      off();
      resolve(args);
    });
  });
}
