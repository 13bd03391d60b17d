import type { Clock } from '../clock/clock.js';
import type { CvmwebOptions } from '../cvmweb.js';
import type { Driver } from '../driver/driver.js';
import type { ImageCache } from '../images/image-cache.js';
import type { Requirements } from '../registry/session-record.js';

/**
 * How the conformance suite observes the guest through the cvmweb guest API
 * (`GUEST_REPORT_PATH` of `@cvmweb/core`): the VM must boot the cvmweb test guest (or, for the
 * mock driver, serve the mock's endpoint).
 */
export interface GuestObservationOptions {
  /**
   * The clock the measured windows (a paused guest, a CPU rate under an execution cap) pass on.
   * Default: the system clock. The mock driver's tests pass one `FastClock` to both the driver
   * and the suite, so the windows take no real time.
   */
  clock?: Clock;
  /**
   * How long, in real ms, to wait for the guest's report after a boot, a reset or a restore, and
   * for a stopped VM's port and processes to go away. Default: {@link ConformanceOptions.apiTimeoutMs}.
   */
  bootTimeoutMs?: number;
}

/** Options of `runConformanceSuite`. */
export interface ConformanceOptions {
  /** Title of the `describe` block, usually the driver's name. */
  name: string;
  /**
   * Returns a driver. Called once per test and once more for the simulated
   * restart: drivers returned by successive calls within one test must see the
   * same hypervisor (as two processes on one machine would).
   */
  driver: () => Driver | Promise<Driver>;
  /** Requirements used to open sessions (e.g. `{ ram: 128 }` for a small test guest). */
  requirements?: Partial<Requirements>;
  /** The image cache sessions download from (real drivers boot a real image). */
  images?: () => ImageCache | Promise<ImageCache>;
  /** User data given to `start()`; the observed guest must read exactly this back. */
  userData?: string;
  /** Time box of each test in ms (default 30 s; real VMs need more). */
  timeoutMs?: number;
  /** Time to wait for `apiAvailable` after `start()` in ms (default 20 s). */
  apiTimeoutMs?: number;
  /**
   * Lists anything the driver made that should be gone after `close()` (disks,
   * volumes, port rules, files, hypervisor processes) for the given VM name. The suite asserts
   * it is empty.
   */
  leftovers?: (vmName: string) => Promise<string[]>;
  /**
   * Lists the hypervisor processes (or whatever stands for them, such as the mock's API server)
   * still running the VM of the given name. The suite asserts it is empty once `stop()` and
   * `close()` have returned.
   */
  running?: (vmName: string) => Promise<string[]>;
  /**
   * The CPU time, in ms, the host has given the virtual CPUs of the running VM of the given name
   * so far (for libvirt: the sum of `virsh domstats --vcpu`'s `vcpu.N.time`). When given, the
   * suite checks an execution cap by the VM's share of a CPU over wall time (the cap is a share
   * of one CPU, whatever else the host runs). Without it, it compares the guest's work rate under
   * the cap with its uncapped rate, which shows a cap only on a host with a CPU to spare.
   */
  cpuTime?: (vmName: string) => Promise<number>;
  /**
   * Observation of the guest through the cvmweb guest API: the user data read back, a paused
   * guest silent and its clock stopped, the same boot after resume and restore, a new one after
   * reset, nothing answering after stop, the CPU rate under an execution cap. On by default
   * (with the system clock). `false` when the driver boots an image that is not the cvmweb test
   * guest: the suite then checks power states only, and says so in a skipped test.
   */
  guest?: GuestObservationOptions | false;
  /** Runs after each test (stop fake servers, remove temp files). */
  cleanup?: () => Promise<void> | void;
  /** Extra options for `createCvmweb`. */
  cvmweb?: Partial<CvmwebOptions>;
}
