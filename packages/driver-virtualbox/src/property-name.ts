import { HypervisorError } from '@cvmweb/core';
import { PROPERTY_PREFIX } from './commands.js';

/** A property key of ours: the characters core allows, never a path out of `/CVMWeb/`. */
const PROPERTY_KEY = /^[A-Za-z0-9_.-]{1,128}$/;

/**
 * The guest property name of a cvmweb property key. Keys are already validated by core; this
 * refuses, with `NOT_ALLOWED`, anything that would leave our `/CVMWeb/` namespace.
 */
export function propertyName(key: string): string {
  if (typeof key !== 'string' || !PROPERTY_KEY.test(key) || key === '.' || key === '..') {
    throw new HypervisorError('NOT_ALLOWED', `guest property keys are confined to ${PROPERTY_PREFIX}`, {
      details: { field: 'propertyName', key: String(key).slice(0, 200) },
    });
  }
  return `${PROPERTY_PREFIX}${key}`;
}
