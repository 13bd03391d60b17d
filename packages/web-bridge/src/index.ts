/**
 * @cvmweb/web-bridge: the loopback WebSocket service that gives web pages the
 * CVMWeb plugin's API, with consent the page cannot forge, and (under
 * `@cvmweb/web-bridge/client`) the browser client.
 *
 * @packageDocumentation
 */
export * from './consent/consent-broker.js';
export * from './consent/consent-decision.js';
export * from './consent/consent-page.js';
export * from './consent/denial-throttle.js';
export * from './consent/terminal-prompter.js';
export * from './policy/bridge-policy.js';
export * from './policy/check-requirements.js';
export * from './policy/normalize-origin.js';
export * from './policy/policy-store.js';
export * from './protocol/client-frame.js';
export * from './protocol/protocol-version.js';
export * from './protocol/server-frame.js';
export * from './service/bridge-service.js';
export * from './service/client-bundle.js';
export * from './service/frame-limits.js';
export * from './service/host-allow-list.js';
export * from './service/session-snapshot.js';
export * from './service/timeline-feed.js';
export * from './service/token-bucket.js';
export * from './service/wire-error.js';
