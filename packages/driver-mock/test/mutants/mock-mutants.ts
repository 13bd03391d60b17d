// Deliberately broken variants of the mock driver, for `npm run test:conformance-mutants`: the
// conformance suite must fail on each. Test-only code: not exported by the package, not built.
import type { Driver, Hypervisor, VmHandle, VmPowerState } from '@cvmweb/core';

/** The state a mutant pretends a VM is in, by VM id (the real mock VM is elsewhere). */
type Pretence = Map<string, VmPowerState>;

/** What a mutant changes on each VM handle; `pretence` is shared by every handle of the driver's VMs. */
type Breakage = (vm: VmHandle, pretence: Pretence) => Partial<VmHandle>;

/** One broken variant of the mock driver. */
export interface MockMutant {
  /** Its name, as the runner reports it. */
  readonly name: string;
  /** What is wrong with it. */
  readonly description: string;
  /** What it changes on each VM handle. */
  readonly breakage: Breakage;
}

/** The state a handle reports: the pretence, else the real one. */
const pretendedState =
  (vm: VmHandle, pretence: Pretence): VmHandle['state'] =>
  (options) =>
    Promise.resolve(pretence.get(vm.id) ?? vm.state(options));

/** Forgets the pretence before `call`, so the real VM is acted on. */
const honest =
  <A extends unknown[]>(vm: VmHandle, pretence: Pretence, call: (...args: A) => Promise<void>) =>
  (...args: A) => {
    pretence.delete(vm.id);
    return call(...args);
  };

/** Every mutant the runner tries. */
export const mockMutants: readonly MockMutant[] = [
  {
    name: 'pause-does-not-pause',
    description: 'pause() reports success and the state says paused, but the guest runs on',
    breakage: (vm, pretence) => ({
      state: pretendedState(vm, pretence),
      pause: async () => {
        pretence.set(vm.id, 'paused');
      },
      resume: async () => {
        pretence.delete(vm.id);
      },
      stop: honest(vm, pretence, (options) => vm.stop(options)),
      hibernate: honest(vm, pretence, async (options) => vm.hibernate?.(options)),
      destroy: honest(vm, pretence, (options) => vm.destroy(options)),
    }),
  },
  {
    name: 'reset-does-not-reset',
    description: 'reset() reports success and does nothing',
    breakage: () => ({ reset: async () => undefined }),
  },
  {
    name: 'stop-leaves-vm-running',
    description: 'stop() reports success and the state says poweroff, but the VM runs on',
    breakage: (vm, pretence) => ({
      state: pretendedState(vm, pretence),
      stop: async () => {
        pretence.set(vm.id, 'poweroff');
      },
      start: async (spec, options) => {
        if (pretence.get(vm.id) === 'poweroff') {
          pretence.delete(vm.id);
          await vm.stop();
        }
        return vm.start(spec, options);
      },
      apiEndpoint: () => (pretence.has(vm.id) ? undefined : vm.apiEndpoint?.()),
      destroy: honest(vm, pretence, (options) => vm.destroy(options)),
    }),
  },
  {
    name: 'user-data-dropped',
    description: 'start() boots the guest without the user data',
    breakage: (vm) => ({ start: (spec, options) => vm.start({ ...spec, userData: '' }, options) }),
  },
  {
    name: 'hibernate-loses-memory',
    description: 'hibernate() powers the VM off; the next start() boots it afresh',
    breakage: (vm, pretence) => ({
      state: pretendedState(vm, pretence),
      hibernate: async () => {
        await vm.stop();
        pretence.set(vm.id, 'saved');
      },
      start: honest(vm, pretence, (spec, options) => vm.start(spec, options)),
      destroy: honest(vm, pretence, (options) => vm.destroy(options)),
    }),
  },
  {
    name: 'execution-cap-ignored',
    description: 'setExecutionCap() reports success and leaves the guest uncapped',
    breakage: () => ({ setExecutionCap: async () => undefined }),
  },
];

/** `driver` with `mutant`'s breakage applied to every VM handle its hypervisors give out. */
export function mutate(driver: Driver, mutant: MockMutant): Driver {
  const pretence: Pretence = new Map();
  const handle = (vm: VmHandle): VmHandle => {
    const broken = mutant.breakage(vm, pretence);
    return new Proxy(vm, {
      get(target, property) {
        if (Object.hasOwn(broken, property)) return broken[property as keyof VmHandle];
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  };
  const hypervisor = (hv: Hypervisor): Hypervisor =>
    new Proxy(hv, {
      get(target, property) {
        if (property === 'createVm') {
          return async (...args: Parameters<Hypervisor['createVm']>) =>
            handle(await target.createVm(...args));
        }
        if (property === 'findVm') {
          return async (...args: Parameters<Hypervisor['findVm']>) => {
            const vm = await target.findVm(...args);
            return vm && handle(vm);
          };
        }
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  return { ...driver, create: async (options) => hypervisor(await driver.create(options)) };
}
