import { describe, expect, it } from 'vitest';
import { isRemoteUri, isSessionUri } from './kvm-options.js';
import {
  parseDomState,
  parseKeyValues,
  parseNames,
  parseVersion,
  parseVolumeList,
  stopCauseOf,
  toPowerState,
} from './virsh-parsers.js';

describe('virsh parsers', () => {
  it('reads domstate --reason', () => {
    expect(parseDomState('running (booted)\n\n')).toEqual({ state: 'running', reason: 'booted' });
    expect(parseDomState('shut off (saved)\n')).toEqual({ state: 'shut off', reason: 'saved' });
    expect(parseDomState('paused\n')).toEqual({ state: 'paused' });
  });

  it('maps libvirt states to power states', () => {
    expect(toPowerState('running', false)).toBe('running');
    expect(toPowerState('in shutdown', false)).toBe('running');
    expect(toPowerState('paused', false)).toBe('paused');
    expect(toPowerState('shut off', false)).toBe('poweroff');
    expect(toPowerState('shut off', true)).toBe('saved');
    expect(toPowerState('crashed', false)).toBe('error');
  });

  it('reads key-value output, names, volume tables and versions', () => {
    expect(parseKeyValues('Id:             -\nManaged save:   yes\nCPU time:       1.2s\n')).toMatchObject({
      'Managed save': 'yes',
      'CPU time': '1.2s',
    });
    expect(parseKeyValues('Scheduler      : posix\nvcpu_quota     : 20000\n')['vcpu_quota']).toBe('20000');
    expect(parseNames('a\nb\n\n')).toEqual(['a', 'b']);
    expect(parseVolumeList(' Name   Path\n-----------\n a.iso  /x/a.iso\n b      /x/b\n\n')).toEqual([
      'a.iso',
      'b',
    ]);
    expect(
      parseVersion(
        'Compiled against library: libvirt 9.0.0\nUsing library: libvirt 9.0.0\nUsing API: QEMU 9.0.0\nRunning hypervisor: QEMU 7.2.22\n',
      ),
    ).toEqual({ libvirt: '9.0.0', hypervisor: '7.2.22', hypervisorName: 'QEMU' });
  });

  it('classifies URIs', () => {
    expect(isSessionUri('qemu:///session')).toBe(true);
    expect(isSessionUri('qemu:///system')).toBe(false);
    expect(isRemoteUri('qemu+ssh://root@host/system?no_verify=1')).toBe(true);
    expect(isRemoteUri('qemu:///system')).toBe(false);
  });
});

describe('stopCauseOf', () => {
  it.each([
    ['shut off (shutdown)', 'guest'],
    ['shut off (destroyed)', 'failure'],
    ['shut off (crashed)', 'failure'],
    ['shut off (failed)', 'failure'],
    ['crashed (panicked)', 'failure'],
    ['shut off (saved)', undefined],
    ['shut off (unknown)', undefined],
    ['running (booted)', undefined],
  ])('%s → %s', (text, cause) => {
    expect(stopCauseOf(parseDomState(text))).toBe(cause);
  });
});
