// A page's script: what a site writes with the client, type-checked without Node's types.

import { HypervisorError, SessionState } from '@cvmweb/core/browser';
import {
  CVMWeb,
  CVMWebBridge,
  CVMWebConsole,
  CVMWebDaemonAccess,
  CVMWebSession,
  connect,
  type SessionStateValue,
  status,
} from '@cvmweb/web-bridge/client';

export async function run(button: HTMLButtonElement): Promise<SessionStateValue | undefined> {
  const found = await status();
  if (found.service !== 'running' || found.compatible === false) return undefined;
  const bridge: CVMWebBridge = await connect({ onConsentRequired: (url) => window.open(url) });
  try {
    const session: CVMWebSession = await bridge.requestSession('demo', 'secret');
    session.addEventListener('stateChanged', (state) => {
      button.disabled = state !== SessionState.Started;
    });
    if (session.state === SessionState.Started) {
      const view: CVMWebConsole = await session.openConsole(button, { scaleViewport: true });
      view.addEventListener('disconnect', (code, message) => console.log(code, message));
      view.disconnect();
    }
    return session.state;
  } catch (error) {
    if (error instanceof HypervisorError) console.log(error.code, CVMWeb.version);
    throw error;
  }
}

/** What a page cannot write: the client's objects come from connect() and the bridge, never from `new`. */
export function notConstructible(): void {
  // @ts-expect-error the constructor is private: connect() makes the bridge
  new CVMWebBridge();
  // @ts-expect-error the constructor is private: requestSession() makes sessions
  new CVMWebSession();
  // @ts-expect-error the constructor is private: requestDaemonAccess() makes it
  new CVMWebDaemonAccess();
  // @ts-expect-error the constructor is private: openConsole() makes consoles
  new CVMWebConsole();
  // @ts-expect-error the internal factory is not in the shipped declarations
  CVMWebSession.create;
  // @ts-expect-error the internal factory is not in the shipped declarations
  CVMWebConsole.create;
}
