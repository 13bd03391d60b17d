import type { StopCause, VmPowerState } from '@cvmweb/core';

/** `virsh domstate --reason` output: `running (booted)` → `{ state: 'running', reason: 'booted' }`. */
export function parseDomState(text: string): { state: string; reason?: string } {
  const line = text.trim().split('\n')[0]?.trim() ?? '';
  const match = /^(.*?)\s*(?:\(([^)]*)\))?$/.exec(line);
  const state = match?.[1]?.trim() ?? line;
  const reason = match?.[2]?.trim();
  return reason ? { state, reason } : { state };
}

/** libvirt's state (and whether a managed save exists) as a cvmweb power state. */
export function toPowerState(state: string, managedSave: boolean): VmPowerState {
  switch (state) {
    case 'running':
    case 'in shutdown':
    case 'idle':
    case 'blocked':
      return 'running';
    case 'paused':
    case 'pmsuspended':
      return 'paused';
    case 'shut off':
      return managedSave ? 'saved' : 'poweroff';
    default:
      return 'error';
  }
}

/**
 * Why a domain is off, from `domstate --reason`: `shut off (shutdown)` is the guest's own clean
 * power-off (or a graceful `virsh shutdown`); `destroyed` (killed, e.g. `virsh destroy` from
 * outside), `crashed` and `failed` are failures. Anything else (running, saved, unknown reasons)
 * says nothing. Core asks only after a change no session action made, so cvmweb's own forced
 * stop (also `destroyed`) is never taken for a failure by the session that made it.
 */
export function stopCauseOf(domain: { state: string; reason?: string }): StopCause | undefined {
  if (domain.state === 'crashed') return 'failure';
  if (domain.state !== 'shut off') return undefined;
  if (domain.reason === 'shutdown') return 'guest';
  return domain.reason === 'destroyed' || domain.reason === 'crashed' || domain.reason === 'failed'
    ? 'failure'
    : undefined;
}

/** `Key:   value` lines (`dominfo`, `schedinfo`, `vol-info`, `pool-info`) as a record. */
export function parseKeyValues(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const at = line.indexOf(':');
    if (at <= 0) continue;
    const key = line.slice(0, at).trim();
    if (key !== '') out[key] = line.slice(at + 1).trim();
  }
  return out;
}

/** `virsh list --name` output (which ends with an empty line) as names. */
export function parseNames(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

/** `virsh vol-list <pool>` table rows as volume names. */
export function parseVolumeList(text: string): string[] {
  const names: string[] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || /^-+$/.test(trimmed) || /^Name\s+Path$/.test(trimmed)) continue;
    const name = trimmed.split(/\s+/)[0];
    if (name) names.push(name);
  }
  return names;
}

/** `virsh version` output: the library and hypervisor versions. */
export function parseVersion(text: string): {
  libvirt?: string;
  hypervisor?: string;
  hypervisorName?: string;
} {
  const out: { libvirt?: string; hypervisor?: string; hypervisorName?: string } = {};
  const library = /Using library: libvirt ([\d.]+)/.exec(text)?.[1];
  if (library) out.libvirt = library;
  const running = /Running hypervisor: (\S+) ([\d.]+)/.exec(text);
  if (running?.[1] && running[2]) {
    out.hypervisorName = running[1];
    out.hypervisor = running[2];
  }
  return out;
}
