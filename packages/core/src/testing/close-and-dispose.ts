import type { Cvmweb } from '../cvmweb.js';
import { SessionState } from '../state/session-state.js';

/**
 * Test clean-up: closes every session of `cvmweb` that still has a VM (so
 * nothing is left on the hypervisor), ignoring failures, then disposes it.
 */
export async function closeAndDispose(cvmweb: Cvmweb): Promise<void> {
  for (const record of cvmweb.sessions()) {
    if (record.state === SessionState.Closed) continue;
    const session = await cvmweb.session(record.id).catch(() => undefined);
    await session?.close().catch(() => undefined);
  }
  await cvmweb.dispose();
}
