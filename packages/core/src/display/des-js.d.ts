// The part of des.js (no types of its own) that vnc-auth.ts uses.
declare module 'des.js' {
  interface Cipher {
    update(data: Uint8Array | number[]): number[];
    final(): number[];
  }
  export const DES: {
    create(options: { type: 'encrypt' | 'decrypt'; key: number[]; padding?: boolean }): Cipher;
  };
}
