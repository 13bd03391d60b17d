import { readFileSync } from 'node:fs';
import { isHypervisorError } from '@cvmweb/core';
import { describe, expect, it } from 'vitest';
import { moveApiForward, QEMU_NAMESPACE, readApiForward } from './domain-definition.js';
import { hostHasVirtualization } from './host-capabilities.js';
import { METADATA_NAMESPACE, parseMetadata } from './vm-metadata.js';
import { descendantElements, parseXml, serializeXml } from './xml.js';

/** Captured from libvirt 9.0 (QEMU 7.2): a domain cvmweb defined, as `virsh dumpxml --inactive` prints it. */
const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');
const dumpxml = fixture('dumpxml-inactive.xml');
const NAME = 'cvmweb-fixture-capture-0123456789ab';
const VOLUMES = [`${NAME}.a1b2c3d4e5f6.scratch.qcow2`, `${NAME}.a1b2c3d4e5f6.context.iso`];

const forwardValues = (xml: string) =>
  descendantElements(parseXml(xml, 'test'), 'arg', QEMU_NAMESPACE).map((arg) => arg.getAttribute('value'));

describe('real virsh output', () => {
  it('reads cvmweb’s metadata from `virsh metadata` and from the whole domain (entities decoded)', () => {
    const expected = {
      installation: 'fixture & <installation>',
      sessionId: '6f1c1e9a-3f7e-4a8e-9b1a-0c2d3e4f5a6b',
      apiPort: 40123,
      volumes: VOLUMES,
    };
    expect(parseMetadata(fixture('metadata.xml'))).toEqual(expected);
    expect(parseMetadata(dumpxml)).toEqual(expected);
  });

  it('reads the API forward of a domain', () => {
    expect(readApiForward(dumpxml)).toEqual({ hostPort: 40123, guestPort: 80 });
    const without = parseXml(dumpxml, 'test');
    for (const line of descendantElements(without, 'commandline', QEMU_NAMESPACE))
      line.parentNode?.removeChild(line);
    expect(readApiForward(serializeXml(without))).toBeUndefined();
  });

  it('moves the API forward in QEMU’s rule and in the metadata, and changes nothing else', () => {
    const moved = moveApiForward(dumpxml, 40123, 41000);
    expect(readApiForward(moved)).toEqual({ hostPort: 41000, guestPort: 80 });
    expect(parseMetadata(moved)?.apiPort).toBe(41000);
    expect(forwardValues(moved)).toEqual([
      '-netdev',
      'user,id=cvmwebnet0,hostfwd=tcp:127.0.0.1:41000-:80',
      '-device',
      'virtio-net-pci,netdev=cvmwebnet0,addr=0x10,romfile=',
    ]);
    // Moving it back gives the document libvirt printed (as the library serialises it).
    expect(moveApiForward(moved, 41000, 40123)).toBe(serializeXml(parseXml(dumpxml, 'test')));
    const domain = parseXml(moved, 'test').documentElement;
    expect(domain?.getAttribute('type')).toBe('qemu');
    expect(descendantElements(parseXml(moved, 'test'), 'cmdline')[0]?.textContent).toBe(
      'console=ttyS0 quiet & "x" <y>',
    );
    expect(
      descendantElements(parseXml(moved, 'test'), 'volume', METADATA_NAMESPACE).map((v) => v.textContent),
    ).toEqual(VOLUMES);
  });

  it('refuses to move a forward the domain does not have, and a document that is not XML', () => {
    const error = (() => {
      try {
        moveApiForward(dumpxml, 40124, 41000);
      } catch (e) {
        return e;
      }
    })();
    expect(isHypervisorError(error) && error.codeName).toBe('CONTROL');
    expect(() => moveApiForward('<domain><name>x</domain>', 1, 2)).toThrow(/not well-formed XML/);
    expect(() => parseMetadata('<vm><session>s</vm>')).toThrow(/not well-formed XML/);
  });

  it('does not take a port that only looks like the forward (another rule, a longer number)', () => {
    const other = dumpxml
      .replace('hostfwd=tcp:127.0.0.1:40123-:80', 'hostfwd=tcp:127.0.0.1:401234-:80')
      .replace(
        "<qemu:arg value='-device'/>",
        "<qemu:arg value='-device'/><!-- hostfwd=tcp:127.0.0.1:40123-:80 -->",
      );
    expect(() => moveApiForward(other, 40123, 41000)).toThrow(/was not found/);
  });

  it('reads the host’s virtualisation flag from `virsh capabilities`', () => {
    const capabilities = fixture('capabilities.xml');
    // Captured on a machine without VT-x/AMD-V.
    expect(hostHasVirtualization(capabilities)).toBe(false);
    const withVmx = parseXml(capabilities, 'test');
    const cpu = descendantElements(withVmx, 'cpu')[0];
    const vmx = withVmx.createElement('feature');
    vmx.setAttribute('name', 'vmx');
    cpu?.appendChild(vmx);
    expect(hostHasVirtualization(serializeXml(withVmx))).toBe(true);
    // A flag elsewhere (a guest CPU model) is not the host's.
    expect(
      hostHasVirtualization("<capabilities><guest><cpu><feature name='svm'/></cpu></guest></capabilities>"),
    ).toBe(false);
  });
});
