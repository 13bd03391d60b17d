import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ClickGuard } from '../consent/click-guard.js';
import type { ConsentBroker } from '../consent/consent-broker.js';
import { isConsentDecision } from '../consent/consent-decision.js';
import { type ConsentNotice, isConsentNotice, renderConsentPage } from '../consent/consent-page.js';
import { normalizeOrigin } from '../policy/normalize-origin.js';
import type { PolicyStore } from '../policy/policy-store.js';
import { readForm, securityHeaders, send, sendText } from './http-responses.js';

/** What {@link ConsentRoutes} needs from its service. @internal */
export interface ConsentRoutesContext {
  readonly broker: ConsentBroker;
  readonly policy: PolicyStore;
  /** True for the service's own origins. */
  readonly isOwn: (origin: string) => boolean;
  /** How long the decision buttons ignore clicks after the page appears, ms. */
  readonly clickDelayMs?: number | undefined;
}

/**
 * The consent page (`GET /consent`) and its forms (`POST /consent`,
 * `POST /consent/revoke`), accepted only from the service's own origin and
 * only once the page has been on screen for the click delay. @internal
 */
export class ConsentRoutes {
  readonly #context: ConsentRoutesContext;
  readonly #formToken = randomBytes(24).toString('base64url');
  readonly #guard: ClickGuard;

  constructor(context: ConsentRoutesContext) {
    this.#context = context;
    this.#guard = new ClickGuard(context.clickDelayMs === undefined ? {} : { delayMs: context.clickDelayMs });
  }

  /** Serves the page; `notice` is one of the fixed sentences' codes (any site may open the page with a query). */
  page(response: ServerResponse, notice: string | null): undefined {
    const html = renderConsentPage({
      pending: this.#context.broker.pending(),
      remembered: this.#context.policy.policy.origins,
      formToken: this.#formToken,
      shown: this.#guard.stamp(),
      clickDelayMs: this.#guard.delayMs,
      ...(isConsentNotice(notice) ? { notice } : {}),
    });
    return send(response, 200, 'text/html; charset=utf-8', html, {
      'Content-Security-Policy':
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
      'X-Frame-Options': 'DENY',
      // With no-referrer, Chromium sends `Origin: null` on the form's POST; same-origin keeps the real origin.
      'Referrer-Policy': 'same-origin',
    });
  }

  /** Consent decisions and revocations: only from the service's own pages (Origin and Sec-Fetch-Site). */
  post(
    request: IncomingMessage,
    response: ServerResponse,
    path: string,
    origin: string | undefined,
  ): undefined {
    const site = request.headers['sec-fetch-site'];
    if (!origin || !this.#context.isOwn(origin) || (site !== undefined && site !== 'same-origin')) {
      request.resume();
      return sendText(response, 403, 'Decisions are accepted only from the consent page');
    }
    readForm(request, 4096)
      .then(
        async (form) => {
          const notice = await this.#apply(path, form);
          if (typeof notice === 'object') return sendText(response, notice.status, notice.text);
          response.writeHead(303, { ...securityHeaders, Location: `/consent?notice=${notice}` });
          response.end();
        },
        () => sendText(response, 413, 'Form too large'),
      )
      // Nothing may reject unhandled: that would end the service.
      .catch(() => {
        // The policy file could not be written (a revocation still holds while the service runs).
        if (!response.headersSent) sendText(response, 500, 'The decision could not be saved');
        else response.destroy();
      });
    return undefined;
  }

  async #apply(
    path: string,
    form: URLSearchParams,
  ): Promise<ConsentNotice | { status: number; text: string }> {
    const { broker } = this.#context;
    if (path === '/consent') {
      const shown = this.#guard.check(form.get('shown'));
      if (shown === 'invalid') return { status: 400, text: 'Reload the consent page and decide again' };
      // A click too soon after the page appeared may be the second half of a double-click aimed elsewhere.
      if (shown === 'too-soon') return 'too-soon';
      const decision = form.get('decision');
      const ok = isConsentDecision(decision) && (await broker.decide(form.get('token') ?? '', decision));
      return ok ? decision : { status: 400, text: 'Unknown or spent consent token' };
    }
    const target = normalizeOrigin(form.get('origin') ?? '');
    if (form.get('form') !== this.#formToken || !target) return { status: 400, text: 'Bad revocation form' };
    await broker.revoke(target);
    return 'forgot';
  }
}
