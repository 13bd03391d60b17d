import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { buildDomainXml } from './domain-xml.js';
import { newDisplayPassword, parseDisplay, ppmToPng } from './kvm-display.js';

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
    expect(newDisplayPassword()).toMatch(/^[A-Za-z0-9_-]{8}$/);
    expect(newDisplayPassword()).not.toBe(newDisplayPassword());
  });

  it('converts a binary PPM screenshot into a PNG of its size and pixels, and refuses anything else', () => {
    const pixels = Buffer.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9]);
    const ppm = Buffer.concat([Buffer.from('P6\n# QEMU\n2 2\n255\n'), pixels]);
    const png = PNG.sync.read(ppmToPng(ppm));
    expect([png.width, png.height]).toEqual([2, 2]);
    expect([...png.data]).toEqual([255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 9, 9, 9, 255]);
    expect(() => ppmToPng(Buffer.from('P3\n2 2\n255\n1 2 3'))).toThrow(/PPM/);
    expect(() => ppmToPng(ppm.subarray(0, ppm.length - 1))).toThrow(/PPM/);
  });
});
