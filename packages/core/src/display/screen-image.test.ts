import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { isPng, ppmToPng, screenImageToPng } from './screen-image.js';

describe('screen images', () => {
  const pixels = Buffer.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9]);
  const ppm = Buffer.concat([Buffer.from('P6\n# QEMU\n2 2\n255\n'), pixels]);

  it('converts a binary PPM screenshot into a PNG of its size and pixels, and refuses anything else', () => {
    const png = PNG.sync.read(ppmToPng(ppm));
    expect([png.width, png.height]).toEqual([2, 2]);
    expect([...png.data]).toEqual([255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 9, 9, 9, 255]);
    expect(() => ppmToPng(Buffer.from('P3\n2 2\n255\n1 2 3'))).toThrow(/PPM/);
    expect(() => ppmToPng(ppm.subarray(0, ppm.length - 1))).toThrow(/PPM/);
    expect(() => ppmToPng(Buffer.from('P6\n0 0\n255\n'))).toThrow(/PPM/);
  });

  it('passes a PNG through as it is and converts a PPM', () => {
    const png = ppmToPng(ppm);
    expect(isPng(png)).toBe(true);
    expect(isPng(ppm)).toBe(false);
    expect(screenImageToPng(png)).toBe(png);
    expect(PNG.sync.read(screenImageToPng(ppm)).width).toBe(2);
  });
});
