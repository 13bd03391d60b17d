// File names of the two trees: the Joliet names as given, validated, and their level-2 primary
// counterparts (ECMA-119 7.5), in the order directories list them (9.3).

import { invalid } from './iso9660-options.js';

const MAX_NAME_LENGTH = 64;
// Level 2 allows 30 characters for name and extension together.
const PRIMARY_NAME_LENGTH = 30;
const PRIMARY_EXTENSION_LENGTH = 8;
const FORBIDDEN_NAME_CHARACTER = /[\u0000-\u001f\u007f/\\*:;?\ud800-\udfff]/;

export function validateName(name: unknown, index: number): asserts name is string {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_NAME_LENGTH) {
    throw invalid('files', `files[${index}].name must be a string of 1 to ${MAX_NAME_LENGTH} characters`);
  }
  if (name === '.' || name === '..' || FORBIDDEN_NAME_CHARACTER.test(name)) {
    throw invalid(
      'files',
      `The file name "${name}" is not allowed: no . or .., control characters, / \\ * : ; ? or characters outside the BMP`,
    );
  }
}

/** Maps a name to a unique level-2 identifier such as `USER_DATA.;1`, recording it in `used`. */
export function primaryName(name: string, used: Set<string>): string {
  const dot = name.lastIndexOf('.');
  const extension = dCharacters(dot === -1 ? '' : name.slice(dot + 1)).slice(0, PRIMARY_EXTENSION_LENGTH);
  const base = dCharacters(dot === -1 ? name : name.slice(0, dot));
  let candidate = `${base.slice(0, PRIMARY_NAME_LENGTH - extension.length)}.${extension}`;
  for (let counter = 1; used.has(candidate); counter++) {
    const suffix = `_${counter}`;
    candidate = `${base.slice(0, PRIMARY_NAME_LENGTH - extension.length - suffix.length)}${suffix}.${extension}`;
  }
  used.add(candidate);
  return `${candidate};1`;
}

function dCharacters(text: string): string {
  let result = '';
  for (const character of text) {
    const upper = character.toUpperCase();
    result += /^[A-Z0-9_]$/.test(upper) ? upper : '_';
  }
  return result;
}

/** ECMA-119 9.3: order by name, then by extension (versions are all 1). */
export function comparePrimary(a: string, b: string): number {
  const [nameA = '', extensionA = ''] = a.replace(/;1$/, '').split('.');
  const [nameB = '', extensionB = ''] = b.replace(/;1$/, '').split('.');
  return compareCodeUnits(nameA, nameB) || compareCodeUnits(extensionA, extensionB);
}

export function compareCodeUnits(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}
