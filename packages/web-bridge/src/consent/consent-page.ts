import { escapeHtml } from '../page/escape-html.js';
import type { OriginDecision } from '../policy/bridge-policy.js';
import type { ConsentRequest } from './consent-broker.js';

/**
 * What the consent page may say on top, after a decision or a revocation: the
 * page is trusted, so it shows only these fixed sentences, chosen by the code
 * in its `?notice=` query (any site can open the page with a query of its own).
 */
export const consentNotices = Object.freeze({
  'allow-once': 'Decision recorded: the site may run virtual machines while the service runs.',
  'allow-always': 'Decision recorded: the site may run virtual machines, and you will not be asked again.',
  deny: 'Decision recorded: the site was refused.',
  'deny-always': 'Decision recorded: the site is refused, and you will not be asked again.',
  forgot: 'The remembered decision was forgotten: the site will be asked again.',
  'too-soon':
    'Nothing was decided: that click came too soon after the page appeared. Read the request, then choose again.',
} as const);

/** A code of {@link consentNotices}. */
export type ConsentNotice = keyof typeof consentNotices;

/** True when `value` is a {@link ConsentNotice}. */
export function isConsentNotice(value: unknown): value is ConsentNotice {
  return typeof value === 'string' && Object.hasOwn(consentNotices, value);
}

/** What the consent page shows. */
export interface ConsentPageModel {
  /** Requests waiting for a decision. */
  readonly pending: readonly ConsentRequest[];
  /** Remembered decisions of the policy file, which the person may revoke. */
  readonly remembered: Readonly<Record<string, OriginDecision>>;
  /** The per-run secret that the revoke form must carry (a CSRF token). */
  readonly formToken: string;
  /** The page's signed time stamp, sent back with each decision. */
  readonly shown: string;
  /** How long the buttons stay inert after the page appears, ms. */
  readonly clickDelayMs: number;
  /** The fixed note to show on top (after a decision or a revocation). */
  readonly notice?: ConsentNotice;
}

/**
 * The consent page (served only from the service's own origin, with
 * `frame-ancestors 'none'` and no script): each waiting origin with its
 * one-time token in a form, and the remembered decisions with revoke buttons.
 * The decision buttons stay inert for `clickDelayMs` after the page appears
 * (double-click-jacking); the service also ignores decisions posted sooner.
 */
export function renderConsentPage(model: ConsentPageModel): string {
  const requests = model.pending
    .map(
      (request) => `<section class="request" data-origin="${escapeHtml(request.origin)}">
  <h2><span class="origin">${escapeHtml(request.origin)}</span> wants to run virtual machines on this computer</h2>
  <p>Session${request.names.length === 1 ? '' : 's'}: ${request.names.map((n) => `<code>${escapeHtml(n)}</code>`).join(', ')}.
  Allow only if you trust this site and it told you it would do this.</p>
  <form method="post" action="/consent">
    <input type="hidden" name="token" value="${escapeHtml(request.token)}">
    <input type="hidden" name="shown" value="${escapeHtml(model.shown)}">
    <button name="decision" value="allow-once">Allow</button>
    <button name="decision" value="allow-always">Allow and don't ask again</button>
    <button name="decision" value="deny">Deny</button>
    <button name="decision" value="deny-always">Always deny</button>
  </form>
</section>`,
    )
    .join('\n');
  const remembered = Object.entries(model.remembered)
    .map(
      ([origin, decision]) => `<li><span class="origin">${escapeHtml(origin)}</span>: ${escapeHtml(decision)}
  <form method="post" action="/consent/revoke" class="inline">
    <input type="hidden" name="form" value="${escapeHtml(model.formToken)}">
    <input type="hidden" name="origin" value="${escapeHtml(origin)}">
    <button>Forget</button>
  </form></li>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cvmweb: allow a site to run virtual machines?</title>
<style>body{font:16px system-ui,sans-serif;max-width:50em;margin:2em auto;padding:0 1em}
.request{border:2px solid #b50;border-radius:8px;padding:1em;margin:1em 0}.origin{font-weight:bold;color:#b50}
button{font-size:1em;margin:.2em}
.request button{pointer-events:none;opacity:.5;animation:ready 0s linear ${Math.max(0, Math.round(model.clickDelayMs))}ms forwards}
@keyframes ready{to{pointer-events:auto;opacity:1}}.inline{display:inline}.notice{background:#efe;padding:.5em}</style></head>
<body><h1>cvmweb consent</h1>
${model.notice && isConsentNotice(model.notice) ? `<p class="notice">${escapeHtml(consentNotices[model.notice])}</p>` : ''}
${requests || '<p id="none">No site is waiting for your decision.</p>'}
<h2>Remembered decisions</h2>
${remembered ? `<ul>${remembered}</ul>` : '<p>None.</p>'}
</body></html>`;
}
