/**
 * The browser client of the cvmweb service: `await CVMWeb.connect()` gives
 * the CVMWeb plugin's API to any web page. Load it from the service
 * (`<script src="http://127.0.0.1:5624/cvmweb.js">`, which defines the global
 * `CVMWeb`) or import `@cvmweb/web-bridge/client`.
 *
 * @packageDocumentation
 */
import { connect } from './connect.js';

export type { SessionStateValue } from '@cvmweb/core';
export type { SessionSnapshot, TimelineEntry, TimelineResult } from '../protocol/server-frame.js';
export { ClientEmitter, type ClientListener } from './client-emitter.js';
export { connect, DEFAULT_SERVICE_URL } from './connect.js';
export type { ConnectOptions } from './connect-options.js';
export { CVMWebBridge, type CVMWebBridgeEvents, type SessionSummary } from './cvmweb-bridge.js';
export type { CVMWebDaemonAccess } from './cvmweb-daemon-access.js';
export {
  CVMWebSession,
  type CVMWebSessionEvents,
  type DaemonSettingsChange,
  type OpenRequirements,
} from './cvmweb-session.js';
export type { WebSocketLike } from './web-socket-like.js';

/** The global of `/cvmweb.js`: `CVMWeb.connect(options)`. */
export const CVMWeb = Object.freeze({ connect });
