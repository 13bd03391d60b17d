import { FastClock, runConformanceSuite } from '@cvmweb/core/testing';
import { mockLeftovers, mockRunning } from '../test/mock-test-hooks.js';
import { createMockHypervisor, mock } from './index.js';

// Successive driver() calls within one test share one simulated hypervisor, as two processes
// on one machine would; cleanup starts the next test on a fresh one. The guest's clock and the
// suite's measured windows share a FastClock, so a paused guest is watched for no real time.
let state = createMockHypervisor();
const clock = new FastClock();

runConformanceSuite({
  name: 'mock',
  driver: () => mock({ instance: state, clock }),
  guest: { clock, bootTimeoutMs: 5000 },
  leftovers: async (vmName) => mockLeftovers(state, vmName),
  running: async (vmName) => mockRunning(state, vmName),
  cleanup: async () => {
    await state.shutdown();
    state = createMockHypervisor();
  },
});
