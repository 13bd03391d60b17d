// The conformance suite against the mock driver as it is (the control, which must pass) and
// against each broken variant of mock-mutants.ts (each of which must fail). Run by
// scripts/conformance-mutants.mjs (`npm run test:conformance-mutants`), which judges the results;
// vitest's own run never picks this file up (it is not a *.test.ts).
import { FastClock, runConformanceSuite } from '@cvmweb/core/testing';
import { createMockHypervisor, type MockHypervisor, mock } from '../../src/index.js';
import { mockLeftovers, mockRunning } from '../mock-test-hooks.js';
import { type MockMutant, mockMutants, mutate } from './mock-mutants.js';

/** The describe title prefix of each variant, which the runner reads back. */
export const MUTANT_TITLE = 'mock mutant';

function suite(name: string, mutant: MockMutant | undefined): void {
  let state: MockHypervisor = createMockHypervisor();
  const clock = new FastClock();
  runConformanceSuite({
    name: `${MUTANT_TITLE} ${name}`,
    driver: () => {
      const driver = mock({ instance: state, clock });
      return mutant ? mutate(driver, mutant) : driver;
    },
    guest: { clock, bootTimeoutMs: 2000 },
    timeoutMs: 15_000,
    apiTimeoutMs: 2000,
    leftovers: async (vmName) => mockLeftovers(state, vmName),
    running: async (vmName) => mockRunning(state, vmName),
    cleanup: async () => {
      await state.shutdown();
      state = createMockHypervisor();
    },
  });
}

suite('control', undefined);
for (const mutant of mockMutants) suite(mutant.name, mutant);
