import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ActionOptions, DisplayEndpoint } from '@cvmweb/core';
import { screenImageToPng } from '@cvmweb/core/node';
import type { Virsh } from './virsh.js';
import { descendantElements, parseXml } from './xml.js';

/**
 * Where a running domain's VNC display listens, with its password, read from its live
 * definition (`dumpxml --security-info`: without it libvirt leaves the password out);
 * `undefined` when the domain has no VNC display or it has no port yet (not running).
 */
export async function readDisplay(
  virsh: Virsh,
  name: string,
  options: ActionOptions & { onDebug?: (message: string) => void },
): Promise<DisplayEndpoint | undefined> {
  const xml = await virsh.run(['dumpxml', name, '--security-info'], { ...options, code: 'QUERY' });
  return parseDisplay(xml);
}

/** The VNC display of a domain definition; see {@link readDisplay}. */
export function parseDisplay(xml: string): DisplayEndpoint | undefined {
  const graphics = descendantElements(parseXml(xml, 'the domain definition'), 'graphics').find(
    (element) => element.getAttribute('type') === 'vnc',
  );
  const port = Number(graphics?.getAttribute('port'));
  if (!graphics || !Number.isInteger(port) || port <= 0) return undefined;
  const password = graphics.getAttribute('passwd');
  return { protocol: 'vnc', host: '127.0.0.1', port, ...(password ? { password } : {}) };
}

/**
 * The running domain's screen as a PNG: `virsh screenshot` writes what QEMU's screendump gives,
 * a PNG where libvirt and QEMU agree on it (libvirt 9 with QEMU 7.2 here), else a binary PPM,
 * converted with core's {@link screenImageToPng}.
 */
export async function takeScreenshot(
  virsh: Virsh,
  name: string,
  options: ActionOptions & { onDebug?: (message: string) => void },
): Promise<Uint8Array> {
  const dir = await mkdtemp(join(tmpdir(), 'cvmweb-kvm-screen-'));
  try {
    const file = join(dir, 'screen.ppm');
    await virsh.run(['screenshot', name, '--file', file], { ...options, code: 'QUERY' });
    const image = await readFile(file);
    return screenImageToPng(image);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
