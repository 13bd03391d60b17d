import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ActionOptions, type DisplayEndpoint, HypervisorError } from '@cvmweb/core';
import { PNG } from 'pngjs';
import type { Virsh } from './virsh.js';
import { descendantElements, parseXml } from './xml.js';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A new random VNC password: 8 characters, as many as VNC authentication uses. */
export function newDisplayPassword(): string {
  return randomBytes(6).toString('base64url');
}

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
 * converted with pngjs.
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
    return image.subarray(0, 8).equals(PNG_SIGNATURE) ? image : ppmToPng(image);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A binary PPM (P6, 8 bits per sample) as a PNG file's bytes. */
export function ppmToPng(ppm: Buffer): Buffer {
  // The header: P6, width, height, maxval, each after white space (comments aside), then one space.
  const header = /^P6\s+(?:#[^\n]*\n\s*)*(\d+)\s+(?:#[^\n]*\n\s*)*(\d+)\s+(?:#[^\n]*\n\s*)*(\d+)\s/.exec(
    ppm.subarray(0, 256).toString('latin1'),
  );
  const width = Number(header?.[1]);
  const height = Number(header?.[2]);
  if (!header || Number(header[3]) !== 255 || ppm.length < header[0].length + width * height * 3) {
    throw new HypervisorError('EXTERNAL', 'the screenshot is not an 8-bit binary PPM', {
      details: { bytes: ppm.length },
    });
  }
  const png = new PNG({ width, height });
  const pixels = ppm.subarray(header[0].length);
  for (let i = 0, j = 0; j < png.data.length; i += 3, j += 4) {
    png.data[j] = pixels[i] ?? 0;
    png.data[j + 1] = pixels[i + 1] ?? 0;
    png.data[j + 2] = pixels[i + 2] ?? 0;
    png.data[j + 3] = 255;
  }
  return PNG.sync.write(png);
}
