import { describe, expect, it } from 'vitest';
import { isHypervisorError } from '../errors/hypervisor-error.js';
import { type CloudInitSeedOptions, cloudInitSeedFiles } from './cloud-init-seed.js';

function expectInvalid(options: CloudInitSeedOptions, field: string): void {
  let thrown: unknown;
  try {
    cloudInitSeedFiles(options);
  } catch (error) {
    thrown = error;
  }
  expect(isHypervisorError(thrown)).toBe(true);
  expect(thrown).toMatchObject({ codeName: 'INVALID_USAGE', details: { field } });
}

const valid = { userData: '#cloud-config\n', instanceId: 'iid-42', hostname: 'vm-1' };

describe('cloudInitSeedFiles', () => {
  it('writes user-data verbatim and a quoted meta-data', () => {
    const userData = '#cloud-config\nruncmd:\n  - echo "hi: there"\n';
    const layout = cloudInitSeedFiles({
      userData,
      instanceId: 'iid-cvmweb-1',
      hostname: 'cernvm.example.org',
    });
    expect(layout.volumeId).toBe('cidata');
    expect(layout.files).toEqual([
      { name: 'user-data', data: userData },
      { name: 'meta-data', data: "instance-id: 'iid-cvmweb-1'\nlocal-hostname: 'cernvm.example.org'\n" },
    ]);
  });

  it('quotes values YAML would read as other types', () => {
    const layout = cloudInitSeedFiles({ userData: '', instanceId: '123', hostname: 'null' });
    expect(layout.files[1]?.data).toBe("instance-id: '123'\nlocal-hostname: 'null'\n");
  });

  it('accepts the longest valid values', () => {
    const label = 'a'.repeat(63);
    const hostname = [label, label, label, 'a'.repeat(61)].join('.');
    expect(hostname).toHaveLength(253);
    expect(() => cloudInitSeedFiles({ ...valid, instanceId: 'i'.repeat(128), hostname })).not.toThrow();
  });

  it.each([
    ['empty', ''],
    ['with a newline', 'iid\nlocal-hostname: evil'],
    ['with a quote', "iid'"],
    ['with a space', 'iid 1'],
    ['with a # comment', 'iid#1'],
    ['starting with -', '-iid'],
    ['too long', 'i'.repeat(129)],
  ])('rejects an instance id %s', (_, instanceId) => {
    expectInvalid({ ...valid, instanceId }, 'instanceId');
  });

  it.each([
    ['empty', ''],
    ['with a newline', 'vm\ninstance-id: x'],
    ['with a colon', 'vm:1'],
    ['with an underscore', 'vm_1'],
    ['starting with -', '-vm'],
    ['ending with .', 'vm.'],
    ['with an empty label', 'a..b'],
    ['with a label over 63 characters', 'a'.repeat(64)],
    ['over 253 characters', Array.from({ length: 5 }, () => 'a'.repeat(60)).join('.')],
  ])('rejects a host name %s', (_, hostname) => {
    expectInvalid({ ...valid, hostname }, 'hostname');
  });

  it('rejects user data that is not a string', () => {
    expectInvalid({ ...valid, userData: 5 as unknown as string }, 'userData');
  });
});
