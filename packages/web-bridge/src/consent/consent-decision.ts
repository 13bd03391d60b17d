/**
 * The person's answer to a consent request: allow or deny this time (for as
 * long as the service runs), or remember it in the policy file.
 * "Allow and don't ask again" is an approval.
 */
export type ConsentDecision = 'allow-once' | 'allow-always' | 'deny' | 'deny-always';

/** Every {@link ConsentDecision}. */
export const consentDecisions: readonly ConsentDecision[] = [
  'allow-once',
  'allow-always',
  'deny',
  'deny-always',
];

/** True when `value` is a {@link ConsentDecision}. */
export function isConsentDecision(value: unknown): value is ConsentDecision {
  return typeof value === 'string' && (consentDecisions as readonly string[]).includes(value);
}
