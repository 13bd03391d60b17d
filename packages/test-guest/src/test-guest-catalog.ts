import { pathToFileURL } from 'node:url';
import { ImageCache, ImageCatalog, type ImageEntry } from '@cvmweb/core';
import type { TestGuest } from './test-guest.js';

/** The catalog versions of the test guest, as sessions request them (`session.open({ version })`). */
export const TEST_GUEST_VERSIONS = Object.freeze({
  /** Kernel + initrd, direct boot, CernVM context medium (`CONTEXT.SH`). */
  kernel: 'test-kernel',
  /** The bootable ISO as a CD-ROM, CernVM context medium: the path CernVM images take. */
  iso: 'test-iso',
  /** Kernel + initrd, direct boot, cloud-init NoCloud seed (`user-data`). */
  cloudInit: 'test-cloud-init',
  /** The hybrid image as a qcow2 disk (boots from a disk), CernVM context medium. */
  disk: 'test-disk',
});

/** Catalog entries of the test guest in every form it is built in, as `file:` URLs with their sha256. */
export function testGuestCatalog(guest: TestGuest): ImageEntry[] {
  const file = (path: string) => pathToFileURL(path).href;
  const kernel = {
    kind: 'kernel',
    url: file(guest.vmlinux),
    sha256: guest.sha256['vmlinux'] ?? '',
    initrdUrl: file(guest.initrd),
    initrdSha256: guest.sha256['initrd.gz'] ?? '',
    cmdline: guest.cmdline,
  } as const;
  return [
    {
      version: TEST_GUEST_VERSIONS.kernel,
      context: 'cernvm',
      ...kernel,
      description: 'cvmweb test guest (kernel)',
    },
    {
      version: TEST_GUEST_VERSIONS.iso,
      kind: 'iso',
      context: 'cernvm',
      url: file(guest.iso),
      sha256: guest.sha256['guest.iso'] ?? '',
      description: 'cvmweb test guest (bootable ISO)',
    },
    {
      version: TEST_GUEST_VERSIONS.cloudInit,
      context: 'cloud-init',
      ...kernel,
      description: 'cvmweb test guest (kernel, cloud-init seed)',
    },
    {
      version: TEST_GUEST_VERSIONS.disk,
      kind: 'disk',
      diskFormat: 'qcow2',
      context: 'cernvm',
      url: file(guest.qcow2),
      sha256: guest.sha256['guest.qcow2'] ?? '',
      description: 'cvmweb test guest (qcow2 disk)',
    },
  ];
}

/**
 * An image cache in `directory` over {@link testGuestCatalog}: pass it as `images` to
 * `createCvmweb` or to the conformance suite. It never uses the network.
 */
export function testGuestImages(guest: TestGuest, directory: string): ImageCache {
  return new ImageCache({
    directory,
    offline: true,
    catalog: new ImageCatalog(testGuestCatalog(guest), { defaults: [] }),
  });
}
