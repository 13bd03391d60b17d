import { describe, expect, it } from 'vitest';
import { buildDomainXml, type DomainModel } from './domain-xml.js';
import { buildMetadata, parseMetadata } from './vm-metadata.js';
import { childElements, descendantElements, parseXml, serializeXml } from './xml.js';

const nasty = `a"b'c<d>e&f\r\ng $(rm -rf /) \`id\`; | \u00e9 ]]> <!--`;

const model = (over: Partial<DomainModel> = {}): DomainModel => ({
  name: 'cvmweb-x-1',
  uuid: '00000000-0000-4000-8000-000000000001',
  memoryMiB: 128,
  vcpus: 1,
  virtType: 'qemu',
  boot: { kind: 'kernel', kernel: `/pool/${nasty}`, initrd: '/pool/i', cmdline: nasty },
  disks: [
    {
      device: 'disk',
      source: { pool: 'p', volume: `v${nasty}` },
      format: 'qcow2',
      target: 'vda',
      bus: 'virtio',
    },
  ],
  metadata: { installation: nasty, sessionId: 's', apiPort: 1234, volumes: [nasty] },
  apiForward: { hostPort: 40000, guestPort: 80 },
  ...over,
});

describe('serializeXml', () => {
  it('writes every character a value can hold so that a parser reads it back, \\r in text included', () => {
    const document = parseXml('<a b="x">y</a>', 'test');
    const root = document.documentElement!;
    root.setAttribute('b', nasty);
    root.firstChild!.nodeValue = nasty;
    const again = parseXml(serializeXml(document), 'test').documentElement!;
    expect(again.getAttribute('b')).toBe(nasty);
    expect(again.textContent).toBe(nasty);
  });
});

describe('buildDomainXml', () => {
  it('keeps hostile values inside text and attributes, and a parser reads each back', () => {
    const xml = buildDomainXml(model());
    // No raw markup from the values: every < in the document starts one of our elements.
    const elements = new Set([...xml.matchAll(/<\/?([^\s/>]+)/g)].map((m) => m[1]));
    const ours =
      'domain name uuid metadata cvmweb:vm cvmweb:installation cvmweb:session cvmweb:api cvmweb:volumes cvmweb:volume memory vcpu os type kernel initrd cmdline features acpi apic clock on_poweroff on_reboot on_crash devices disk driver source target serial memballoon qemu:commandline qemu:arg';
    expect([...elements].filter((name) => !ours.split(' ').includes(name ?? ''))).toEqual([]);
    expect(xml).not.toContain(nasty);
    expect(xml).not.toContain('\r');
    expect(xml).toContain('hostfwd=tcp:127.0.0.1:40000-:80');
    const domain = parseXml(xml, 'test').documentElement!;
    expect(domain.getAttribute('type')).toBe('qemu');
    const os = childElements(domain, 'os')[0]!;
    expect(childElements(os, 'cmdline')[0]?.textContent).toBe(nasty);
    expect(childElements(os, 'kernel')[0]?.textContent).toBe(`/pool/${nasty}`);
    expect(descendantElements(domain, 'source')[0]?.getAttribute('volume')).toBe(`v${nasty}`);
    expect(parseMetadata(xml)).toEqual(model().metadata);
  });

  it('refuses a value XML cannot carry', () => {
    expect(() => buildDomainXml(model({ name: 'a\u0001b' }))).toThrow(
      expect.objectContaining({ codeName: 'INVALID_USAGE' }),
    );
  });

  it('refuses sizes that are not non-negative integers', () => {
    for (const bad of [1.5, -1, Number.NaN, 2 ** 60]) {
      expect(() => buildDomainXml(model({ memoryMiB: bad }))).toThrow(RangeError);
    }
    expect(() => buildDomainXml(model({ apiForward: { hostPort: 1.5, guestPort: 80 } }))).toThrow(RangeError);
  });

  it('boots from a CD-ROM or a disk, and uses host-passthrough with KVM', () => {
    expect(buildDomainXml(model({ boot: { kind: 'cdrom' } }))).toContain('<boot dev="cdrom"/>');
    expect(buildDomainXml(model({ boot: { kind: 'disk' }, virtType: 'kvm' }))).toContain('host-passthrough');
    expect(buildDomainXml(model({ cputune: { periodUs: 100000, quotaUs: 20000 } }))).toContain(
      '<cputune><period>100000</period><quota>20000</quota></cputune>',
    );
    const { metadata: _, ...bare } = model();
    expect(buildDomainXml(bare)).not.toContain('<metadata');
  });
});

describe('metadata', () => {
  it('round-trips installations, sessions and volumes with any content', () => {
    const metadata = {
      installation: nasty,
      sessionId: 'abc',
      apiPort: 4242,
      volumes: ['a', nasty],
    };
    expect(parseMetadata(buildMetadata(metadata))).toEqual(metadata);
    expect(parseMetadata(buildMetadata(metadata, 'set'))).toEqual(metadata);
    // As `virsh metadata --uri` prints it: no prefix, reindented.
    const printed = buildMetadata(metadata, 'set').replace(/></g, '>\n  <');
    expect(parseMetadata(printed)).toEqual(metadata);
  });

  it('is not found in foreign metadata', () => {
    expect(parseMetadata('<other><thing/></other>')).toBeUndefined();
    expect(
      buildMetadata({ installation: 'i', sessionId: 's', apiPort: 1, volumes: [] }, 'set'),
    ).not.toContain('xmlns');
  });

  it('reads a domain of an older release (no installation) as owned by no installation', () => {
    const old = "<vm><session>s</session><api port='7'/><volumes/><properties/></vm>";
    expect(parseMetadata(old)).toEqual({ installation: '', sessionId: 's', apiPort: 7, volumes: [] });
  });
});
