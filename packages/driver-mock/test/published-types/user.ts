// A user's code against the shipped declarations: VM handles come from the
// mock hypervisor's connection, never from `new` (MockVm is a type only, so
// its constructor is checked through `typeof`).

import type { MockVm } from '@cvmweb/driver-mock';

// @ts-expect-error the constructor is private: the connection makes handles
export type MakeMockVm = ConstructorParameters<typeof MockVm>;
