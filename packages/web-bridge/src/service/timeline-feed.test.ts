import { describe, expect, it } from 'vitest';
import type { TimelineEntry } from '../protocol/server-frame.js';
import { visibleEntry } from './timeline-feed.js';

const owns = (id: string) => id === 'mine';

describe('visibleEntry', () => {
  it('keeps idle seconds, reasons and failure texts for privileged origins only', () => {
    const system: TimelineEntry = { at: 1, kind: 'system', state: 'idle', idleSeconds: 42, reason: 'x' };
    expect(visibleEntry(system, true, owns)).toEqual(system);
    expect(visibleEntry(system, false, owns)).toEqual({ at: 1, kind: 'system', state: 'idle' });
    const failed: TimelineEntry = {
      at: 2,
      kind: 'action',
      sessionId: 'mine',
      name: 'n',
      action: 'pause',
      ok: false,
      error: 'virsh --connect qemu:///system suspend cvmweb-x: /var/lib/cvmweb/vms/x',
    };
    expect(visibleEntry(failed, true, owns)).toEqual(failed);
    const { error: _hidden, ...shown } = failed;
    expect(visibleEntry(failed, false, owns)).toEqual(shown);
    expect(visibleEntry({ ...failed, sessionId: 'theirs' }, false, owns)).toBeUndefined();
  });
});
