/**
 * @cvmweb/web-bridge: the loopback WebSocket service that gives web pages the
 * CVMWeb plugin's API, with consent the page cannot forge, and (under
 * `@cvmweb/web-bridge/client`) the browser client.
 *
 * @packageDocumentation
 */
export {
  type AuthorizeOptions,
  ConsentBroker,
  type ConsentBrokerOptions,
  type ConsentPrompter,
  type ConsentRequest,
} from './consent/consent-broker.js';
export { type ConsentDecision, consentDecisions } from './consent/consent-decision.js';
export { terminalPrompter } from './consent/terminal-prompter.js';
export {
  type BridgePolicy,
  defaultLimits,
  defaultPolicy,
  type OriginDecision,
  type ResourceLimits,
} from './policy/bridge-policy.js';
export { PolicyStore, type PolicyStoreOptions } from './policy/policy-store.js';
export { PROTOCOL_VERSION } from './protocol/protocol-version.js';
export {
  BRIDGE_PATH,
  BridgeService,
  type BridgeServiceOptions,
  DEFAULT_PORT,
} from './service/bridge-service.js';
export { CONSOLE_PATH } from './service/console-relay.js';
export { defaultFrameLimits, type FrameLimits } from './service/frame-limits.js';
export type { TimelineFeed } from './service/timeline-feed.js';
