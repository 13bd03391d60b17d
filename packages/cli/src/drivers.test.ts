import { describe, expect, it } from 'vitest';
import { knownDrivers } from './drivers.js';

const names = async (name?: string) => (await knownDrivers(name)).map((driver) => driver.name);

describe('knownDrivers', () => {
  it('gives every built-in driver in order of preference', async () => {
    expect(await names()).toEqual(['kvm', 'qemu', 'virtualbox', 'mock']);
  });

  it('gives only the one named, as serve --driver and CVMWEB_DRIVER name it', async () => {
    for (const name of ['kvm', 'qemu', 'virtualbox', 'mock']) expect(await names(name)).toEqual([name]);
    expect(await names(' Mock ')).toEqual(['mock']);
  });

  it('gives every one for a name no built-in driver has (a plug-in, or unknown)', async () => {
    expect(await names('acme')).toEqual(['kvm', 'qemu', 'virtualbox', 'mock']);
    expect(await names('')).toEqual(['kvm', 'qemu', 'virtualbox', 'mock']);
  });
});
