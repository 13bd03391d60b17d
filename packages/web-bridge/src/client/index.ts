/**
 * The browser client of the cvmweb service: `await CVMWeb.connect()` gives
 * the CVMWeb plugin's API to any web page. Public sites host it themselves —
 * `import { connect, status } from '@cvmweb/web-bridge/client'`, or the
 * classic script `@cvmweb/web-bridge/cvmweb.global.js` that defines the global
 * `CVMWeb` — and call {@link status} at load (it never prompts) and
 * {@link connect} from a click. Pages served by the service itself (and local
 * development) may load `<script src="http://127.0.0.1:5624/cvmweb.js">`.
 *
 * @packageDocumentation
 */
import { PROTOCOL_VERSION } from '../protocol/protocol-version.js';
import { CLIENT_VERSION } from './client-version.js';
import { connect } from './connect.js';
import { status } from './status.js';

export type { SessionStateValue } from '@cvmweb/core/browser';
export type {
  ConsoleTicket,
  SessionSnapshot,
  TimelineEntry,
  TimelineResult,
} from '../protocol/server-frame.js';
export { ClientEmitter, type ClientListener } from './client-emitter.js';
export { CLIENT_VERSION } from './client-version.js';
export { connect, DEFAULT_SERVICE_URL } from './connect.js';
export type { ConnectOptions } from './connect-options.js';
export type { ConsoleOptions } from './console-module.js';
export { CVMWebBridge, type CVMWebBridgeEvents, type SessionSummary } from './cvmweb-bridge.js';
export { CVMWebConsole, type CVMWebConsoleEvents } from './cvmweb-console.js';
export { CVMWebDaemonAccess } from './cvmweb-daemon-access.js';
export {
  type ConsoleElement,
  CVMWebSession,
  type CVMWebSessionEvents,
  type DaemonSettingsChange,
  type OpenRequirements,
} from './cvmweb-session.js';
export type { LoopbackPermission } from './local-network-access.js';
export { type CVMWebStatus, type StatusOptions, status } from './status.js';
export type { WebSocketLike } from './web-socket-like.js';
export { PROTOCOL_VERSION };

/**
 * The global `CVMWeb` of the classic-script builds (`cvmweb.global.js`,
 * `/cvmweb.js`): `CVMWeb.status()`, `CVMWeb.connect(options)`, and the
 * client's `version` and bridge `protocol`.
 */
export const CVMWeb: Readonly<{
  /** {@link connect}: connects to the service (call it from a click). */
  connect: typeof connect;
  /** {@link status}: whether the service runs, without prompting. */
  status: typeof status;
  /** This client's version. */
  version: string;
  /** The bridge protocol this client speaks. */
  protocol: typeof PROTOCOL_VERSION;
}> = Object.freeze({
  connect,
  status,
  version: CLIENT_VERSION,
  protocol: PROTOCOL_VERSION,
});
