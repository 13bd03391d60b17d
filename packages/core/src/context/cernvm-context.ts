import type { ContextIsoLayout } from './context-iso-layout.js';

/** The volume label of a CernVM context medium. */
export const CERNVM_CONTEXT_VOLUME_ID = 'CONTEXT_INFO';

/**
 * The layout of a CernVM context medium, as the original CVMWeb plugin built it
 * for CernVM's amiconfig: volume `CONTEXT_INFO` holding `context.sh` (`CONTEXT.SH;1`
 * in the primary tree) with the two lines
 *
 * ```sh
 * EC2_USER_DATA="<user data, UTF-8, base64>"
 * ONE_CONTEXT_PATH="/var/lib/amiconfig"
 * ```
 *
 * @param userData - The user data, stored as UTF-8 then base64 (no line breaks).
 */
export function cernvmContextFiles(
  userData: string,
): ContextIsoLayout & { readonly volumeId: 'CONTEXT_INFO' } {
  const encoded = Buffer.from(userData, 'utf8').toString('base64');
  const contents = `EC2_USER_DATA="${encoded}"\nONE_CONTEXT_PATH="/var/lib/amiconfig"\n`;
  return { volumeId: CERNVM_CONTEXT_VOLUME_ID, files: [{ name: 'context.sh', data: contents }] };
}
