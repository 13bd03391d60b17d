// Byte encodings of ECMA-119 fields: both-endian numbers, ASCII, UCS-2 (Joliet) and dates.

export function bothEndian16(view: DataView, offset: number, value: number): void {
  view.setUint16(offset, value, true);
  view.setUint16(offset + 2, value, false);
}

export function bothEndian32(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, value, true);
  view.setUint32(offset + 4, value, false);
}

export function encodeAscii(text: string): Uint8Array {
  return Uint8Array.from(text, (character) => character.charCodeAt(0));
}

export function encodeUcs2(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length * 2);
  for (let index = 0; index < text.length; index++) {
    const unit = text.charCodeAt(index);
    bytes[index * 2] = unit >> 8;
    bytes[index * 2 + 1] = unit & 0xff;
  }
  return bytes;
}

export function paddedAscii(text: string, length: number): Uint8Array {
  return encodeAscii(text.padEnd(length, ' '));
}

/** UCS-2 big-endian text padded with UCS-2 spaces; an odd field ends with a zero byte. */
export function paddedUcs2(text: string, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  bytes.set(encodeUcs2(text.padEnd(Math.floor(length / 2), ' ')));
  return bytes;
}

/** ECMA-119 9.1.5: seven bytes, UTC. */
export function recordDate(date: Date): Uint8Array {
  return new Uint8Array([
    date.getUTCFullYear() - 1900,
    date.getUTCMonth() + 1,
    date.getUTCDate(),
    date.getUTCHours(),
    date.getUTCMinutes(),
    date.getUTCSeconds(),
    0,
  ]);
}

/** ECMA-119 8.4.26.1: `YYYYMMDDHHMMSScc` digits and a zero UTC offset. */
export function descriptorDate(date: Date): Uint8Array {
  const two = (value: number): string => String(value).padStart(2, '0');
  const digits =
    String(date.getUTCFullYear()).padStart(4, '0') +
    two(date.getUTCMonth() + 1) +
    two(date.getUTCDate()) +
    two(date.getUTCHours()) +
    two(date.getUTCMinutes()) +
    two(date.getUTCSeconds()) +
    two(Math.floor(date.getUTCMilliseconds() / 10));
  return new Uint8Array([...encodeAscii(digits), 0]);
}

export function unspecifiedDate(): Uint8Array {
  return new Uint8Array([...encodeAscii('0'.repeat(16)), 0]);
}
