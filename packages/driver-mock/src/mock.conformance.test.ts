import { runConformanceSuite } from '@cvmweb/core/testing';
import { createMockState, mock } from './index.js';

// Successive driver() calls within one test share one simulated hypervisor, as two processes
// on one machine would; cleanup starts the next test on a fresh one.
let state = createMockState();

runConformanceSuite({
  name: 'mock',
  driver: () => mock({ instance: state }),
  cleanup: async () => {
    await state.shutdown();
    state = createMockState();
  },
});
