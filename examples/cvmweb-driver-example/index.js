// @ts-check
/**
 * An example cvmweb driver plug-in. It shows the packaging — a default export that is a driver
 * factory, `@cvmweb/core` as a peer dependency — not a hypervisor: its probe reports a usable
 * hypervisor with score 0 (so it is used only when named: `--driver example`), and it makes no
 * virtual machines. docs/writing-a-driver.md shows how to write a real one.
 */
import { readFileSync } from 'node:fs';
import { HypervisorError } from '@cvmweb/core';

/** @type {{ version: string }} */
const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));

/**
 * The example driver.
 *
 * @returns {import('@cvmweb/core').Driver}
 */
export function example() {
  return {
    name: 'example',
    capabilities: {
      executionCap: false,
      pause: false,
      hibernate: false,
      reset: false,
      guestProperties: false,
      apiPortForwarding: false,
    },
    probe: async () => ({
      installed: true,
      healthy: true,
      version,
      score: 0,
      reason: 'an example driver: it makes no virtual machines',
      details: { plugin: 'cvmweb-driver-example' },
    }),
    create: async () => ({
      name: 'example',
      version,
      createVm: async () => {
        throw new HypervisorError('NOT_SUPPORTED', 'The example driver makes no virtual machines');
      },
      findVm: async () => undefined,
      listVms: async () => [],
      dispose: async () => {},
    }),
  };
}

// What cvmweb loads: the default export, a function returning a driver.
export default example;
