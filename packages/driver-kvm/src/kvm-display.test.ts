import { newVncPassword } from '@cvmweb/core/node';
import { describe, expect, it } from 'vitest';
import { buildDomainXml } from './domain-xml.js';
import { parseDisplay } from './kvm-display.js';

const model = {
  name: 'cvmweb-x',
  uuid: '00000000-0000-4000-8000-000000000000',
  memoryMiB: 64,
  vcpus: 1,
  virtType: 'qemu',
  boot: { kind: 'cdrom' },
  disks: [],
} as const;

describe('the KVM display', () => {
  it('defines VNC on 127.0.0.1 with an escaped password, and reads the live port and password back', () => {
    const xml = buildDomainXml({ ...model, vncPassword: 'a"<b&' });
    expect(xml).toContain(
      '<graphics type="vnc" autoport="yes" listen="127.0.0.1" passwd="a&quot;&lt;b&amp;">',
    );
    expect(parseDisplay(xml)).toBeUndefined(); // no port before it runs
    const live = xml.replace('<graphics type="vnc"', '<graphics type="vnc" port="5901"');
    expect(parseDisplay(live)).toEqual({ protocol: 'vnc', host: '127.0.0.1', port: 5901, password: 'a"<b&' });
    expect(buildDomainXml(model)).not.toContain('<graphics');
    expect(newVncPassword()).toMatch(/^[A-Za-z0-9_-]{8}$/);
    expect(newVncPassword()).not.toBe(newVncPassword());
  });
});
