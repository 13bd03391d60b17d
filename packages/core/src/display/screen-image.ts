import { PNG } from 'pngjs';
import { HypervisorError } from '../errors/hypervisor-error.js';

/** The first eight bytes of every PNG file. */
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** True when `image` starts with the PNG signature. */
export function isPng(image: Uint8Array): boolean {
  return Buffer.from(image.buffer, image.byteOffset, Math.min(image.byteLength, 8)).equals(PNG_SIGNATURE);
}

/**
 * A hypervisor's screen dump as a PNG file's bytes: a PNG is returned as it is, a binary PPM
 * (what QEMU's `screendump` writes by default) is converted with pngjs. Rejects anything else
 * with `EXTERNAL`.
 */
export function screenImageToPng(image: Buffer): Buffer {
  return isPng(image) ? image : ppmToPng(image);
}

/** A binary PPM (P6, 8 bits per sample) as a PNG file's bytes; `EXTERNAL` for anything else. */
export function ppmToPng(ppm: Buffer): Buffer {
  // The header: P6, width, height, maxval, each after white space (comments aside), then one space.
  const header = /^P6\s+(?:#[^\n]*\n\s*)*(\d+)\s+(?:#[^\n]*\n\s*)*(\d+)\s+(?:#[^\n]*\n\s*)*(\d+)\s/.exec(
    ppm.subarray(0, 256).toString('latin1'),
  );
  const width = Number(header?.[1]);
  const height = Number(header?.[2]);
  if (
    !header ||
    Number(header[3]) !== 255 ||
    width <= 0 ||
    height <= 0 ||
    ppm.length < header[0].length + width * height * 3
  ) {
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
