import type { ActionOptions, ProgressOptions } from '../action-options.js';
import type { ContextMedium } from '../context/context-medium.js';
import type { ImageSource } from '../images/image-source.js';

/**
 * What a driver can do beyond the required minimum. Core checks these before
 * calling the driver: an action whose capability is `false` rejects with
 * `NOT_SUPPORTED` (-11) without reaching the driver, and the conformance suite
 * skips the tests of that capability.
 */
export interface DriverCapabilities {
  /** `setExecutionCap()` limits the VM's CPU share (implement {@link VmHandle.setExecutionCap}). */
  readonly executionCap: boolean;
  /** `pause()` / `resume()` freeze and thaw a running VM (implement `pause` and `resume`). */
  readonly pause: boolean;
  /** `hibernate()` saves the VM's memory to disk and `start()` restores it (implement `hibernate`). */
  readonly hibernate: boolean;
  /** `reset()` hard-resets a running VM (implement `reset`). */
  readonly reset: boolean;
  /**
   * Properties reach the guest (implement `setProperty` / `getProperty`). Without it core still
   * keeps properties in the session registry, so `setProperty`/`getProperty` work, but the guest
   * cannot see them.
   */
  readonly guestProperties: boolean;
  /**
   * The VM's API port (guest port 80) is forwarded to a loopback port of the host, reported by
   * {@link VmHandle.apiEndpoint}; core then probes it and fires `apiAvailable`/`apiUnavailable`.
   */
  readonly apiPortForwarding: boolean;
  /**
   * Optional (absent means `false`): a running VM has a display (VNC or RDP) on a loopback port,
   * protected by a per-VM random password, reported by {@link VmHandle.display}. Core then sets
   * the session's `rdpURL` and `displayURL`, and the web bridge can show it in a page.
   */
  readonly display?: boolean;
  /** Optional (absent means `false`): {@link VmHandle.screenshot} gives a running VM's screen as a PNG. */
  readonly screenshot?: boolean;
}

/**
 * A probe's verdict on one hypervisor on this machine, in the terms of
 * testcontainers' strategies: not applicable (`installed: false`), usable
 * (`healthy: true`), or broken (`installed: true, healthy: false`, with a reason).
 */
export interface ProbeResult {
  /** The hypervisor's programs are present. */
  readonly installed: boolean;
  /** It can run VMs now. A healthy but degraded hypervisor has a lower score and a `fix`. */
  readonly healthy: boolean;
  /** The hypervisor's version, as it reports it. */
  readonly version?: string;
  /**
   * Preference among healthy drivers: higher wins. Conventions: 100 for hardware-accelerated
   * hypervisors native to the platform, 50–90 for other accelerated ones, 10–40 for degraded
   * (software emulation), 0 for simulated drivers that must never win by themselves.
   */
  readonly score: number;
  /** Why it is not installed, not healthy, or degraded. */
  readonly reason?: string;
  /** What the user can do about {@link ProbeResult.reason}, as a command or a short instruction. */
  readonly fix?: string;
  /** Anything else the probe found (paths, URIs, flags), for `cvmweb detect --json`. */
  readonly details?: Readonly<Record<string, unknown>>;
}

/**
 * A hypervisor driver: what a driver package's factory returns.
 *
 * @example
 * ```ts
 * export function myDriver(options: MyOptions = {}): Driver {
 *   return { name: 'my', capabilities: { … }, probe: (o) => probeMy(options, o), create: (o) => connectMy(options, o) };
 * }
 * ```
 */
export interface Driver {
  /** A short lower-case identifier: `kvm`, `virtualbox`, `mock`. Used by `--driver` and `CVMWEB_DRIVER`. */
  readonly name: string;
  /**
   * What the driver can do; constant for the driver's life. A capability that depends on the
   * host (cgroups for an execution cap, a feature of the installed hypervisor version) is
   * declared here and turned off at connection time by {@link Hypervisor.capabilities}.
   */
  readonly capabilities: DriverCapabilities;
  /**
   * Finds out whether this hypervisor is usable here. Must be side-effect free, must not throw
   * (report `installed: false` or `healthy: false` instead), and should finish in well under the
   * detector's time box (5 s by default).
   */
  probe(options?: ActionOptions): Promise<ProbeResult>;
  /**
   * Connects to the hypervisor. Core calls it once per {@link Driver} and disposes the result
   * when done; the runtime guard enforces both.
   */
  create(options?: ActionOptions): Promise<Hypervisor>;
}

/** The power state of a VM as the hypervisor reports it. */
export type VmPowerState = 'poweroff' | 'running' | 'paused' | 'saved' | 'error';

/**
 * Why a powered-off VM stopped, as far as the hypervisor knows: `guest` (the guest shut itself
 * down cleanly, or a graceful stop), `failure` (killed from outside, crashed, failed to run).
 */
export type StopCause = 'guest' | 'failure';

/** One VM of ours, as listed by {@link Hypervisor.listVms}. */
export interface VmSummary {
  /** The driver's stable identifier (a UUID, or the name when the hypervisor has no UUID). */
  readonly id: string;
  /** The hypervisor-side VM name (`VmSpec.name`). */
  readonly name: string;
  /** The session id recorded on the VM when it was created. */
  readonly sessionId: string;
  /** Its current power state. */
  readonly state: VmPowerState;
}

/** Everything a driver needs to create a session's VM. All values are validated by core. */
export interface VmSpec {
  /** The session's id (a UUID). Drivers record it on the VM (metadata, guest property) to find it again. */
  readonly sessionId: string;
  /** The hypervisor-side VM name: `[a-z0-9-]` only, at most 63 characters, unique per session. */
  readonly name: string;
  /** Number of virtual CPUs (1–64). */
  readonly cpus: number;
  /** Memory in MiB (32–1 048 576). */
  readonly ram: number;
  /** Size of the per-session scratch disk in MiB (0 for none, up to 2 TiB). */
  readonly disk: number;
  /** The initial execution cap in percent (1–100). */
  readonly executionCap: number;
  /** The boot image; call `resolve()` only if the driver boots a real image. */
  readonly image: ImageSource;
  /** A directory reserved for this VM's files; core removes it after {@link VmHandle.destroy}. */
  readonly directory: string;
}

/** What `start()` gives the driver. */
export interface StartSpec {
  /** The user data passed to `start()`, placeholders already expanded. */
  readonly userData: string;
  /** The context medium built from the user data, in the format the image expects. */
  readonly context: ContextMedium;
}

/** Where the VM's API is reachable from this host. */
export interface ApiEndpoint {
  /** The host address to connect to (normally `127.0.0.1`). */
  readonly host: string;
  /** The host port forwarded to the guest's port 80. */
  readonly port: number;
  /** The guest's own address, when known (the original plugin's `ip`). */
  readonly guestIp?: string;
}

/**
 * Where a running VM's display is reachable from this host (capability `display`). It carries
 * the display's password: core keeps it on the Node side and never sends it to a page.
 */
export interface DisplayEndpoint {
  /** `vnc` (RFB) or `rdp`. */
  readonly protocol: 'vnc' | 'rdp';
  /** The host address to connect to: `127.0.0.1`, a display never listens on another address. */
  readonly host: string;
  /** The TCP port. */
  readonly port: number;
  /** The user name to give with the password (RDP), `undefined` when the display asks none. */
  readonly user?: string;
  /** The display's password (VNC: at most 8 characters), `undefined` when it has none. */
  readonly password?: string;
}

/**
 * One VM, controlled through its driver. Core serialises calls per VM, so a
 * driver never sees two calls on one handle at once. Every method rejects with
 * a {@link HypervisorError} on failure; any other error is wrapped by core.
 *
 * Optional methods belong to a capability of {@link DriverCapabilities}; a
 * driver that sets the capability must implement them.
 */
export interface VmHandle {
  /** The driver's stable identifier of this VM. */
  readonly id: string;
  /** The hypervisor-side name (`VmSpec.name`). */
  readonly name: string;
  /** Reads the VM's current power state from the hypervisor. */
  state(options?: ActionOptions): Promise<VmPowerState>;
  /**
   * Boots the VM with the given context medium, or restores it when it was hibernated
   * (then the medium of the first boot stays). Resolves when the hypervisor says it runs.
   */
  start(spec: StartSpec, options?: ProgressOptions): Promise<void>;
  /** Powers the VM off: a graceful ACPI shutdown for at most `timeoutMs`, then a hard power-off. */
  stop(options?: ProgressOptions & { timeoutMs?: number }): Promise<void>;
  /**
   * Removes the VM and everything the driver made for it (disks, media, port rules, folders);
   * never anything shared such as a cached base image. Must succeed on a VM in any state and
   * be idempotent: removing a VM that is already gone resolves.
   */
  destroy(options?: ProgressOptions): Promise<void>;
  /** Freezes a running VM (capability `pause`). */
  pause?(options?: ActionOptions): Promise<void>;
  /** Thaws a paused VM (capability `pause`). */
  resume?(options?: ActionOptions): Promise<void>;
  /** Saves a running or paused VM's memory and powers it off (capability `hibernate`). */
  hibernate?(options?: ProgressOptions): Promise<void>;
  /** Hard-resets a running VM (capability `reset`). */
  reset?(options?: ActionOptions): Promise<void>;
  /** Sets the CPU cap, 1–100 percent, live or for the next boot (capability `executionCap`). */
  setExecutionCap?(cap: number, options?: ActionOptions): Promise<void>;
  /** Writes a guest property (capability `guestProperties`). Keys are validated by core. */
  setProperty?(key: string, value: string, options?: ActionOptions): Promise<void>;
  /** Reads a guest property; `undefined` when unset (capability `guestProperties`). */
  getProperty?(key: string, options?: ActionOptions): Promise<string | undefined>;
  /** Where the API port is forwarded, while the VM runs (capability `apiPortForwarding`). */
  apiEndpoint?(): ApiEndpoint | undefined;
  /**
   * Where the running VM's display listens, with its password; `undefined` while the VM does not
   * run (capability `display`). The display listens on `127.0.0.1` only.
   */
  display?(options?: ActionOptions): Promise<DisplayEndpoint | undefined>;
  /** The running VM's screen as a PNG file's bytes (capability `screenshot`). */
  screenshot?(options?: ActionOptions): Promise<Uint8Array>;
  /**
   * Optional: why this powered-off VM stopped (see {@link StopCause}); `undefined` when the
   * hypervisor does not say or the VM is not off. Core asks only when a running VM went off
   * without a session action asking for it, and fires the session's `error` for `failure`; a
   * driver without it makes every such power-off count as the guest's own.
   */
  stopCause?(options?: ActionOptions): Promise<StopCause | undefined>;
}

/**
 * A connected hypervisor: creates, finds, lists and removes the VMs this
 * driver made for cvmweb. It must never list or touch a VM it did not create.
 */
export interface Hypervisor {
  /** The driver's name: exactly the `name` of its `Driver` (core refuses a connection with another one). */
  readonly name: string;
  /** The hypervisor's version. */
  readonly version: string;
  /**
   * Optional: capabilities of {@link Driver.capabilities} that this connection lacks, found out
   * by `create()` (no cgroups for an execution cap, an old hypervisor without snapshots): each
   * `false` here turns that capability off for every session of the connection, so core answers
   * `NOT_SUPPORTED` without calling the driver. A `true` cannot turn on what the driver lacks.
   * Read once, when core connects.
   */
  readonly capabilities?: Partial<DriverCapabilities>;
  /**
   * Optional: why each capability turned off by {@link Hypervisor.capabilities} is missing here,
   * for people (`cgroup v1: …`). Core puts it in the `NOT_SUPPORTED` error's message and
   * `details.reason`. Read once, when core connects.
   */
  readonly capabilityReasons?: Partial<Record<keyof DriverCapabilities, string>>;
  /**
   * Creates (defines, registers) a powered-off VM for `spec`. On failure or abort it removes
   * whatever it made before rejecting: no half-made VM, disk, volume or port is left.
   */
  createVm(spec: VmSpec, options?: ProgressOptions): Promise<VmHandle>;
  /** Finds one of our VMs by id; `undefined` when it does not exist. */
  findVm(id: string, options?: ActionOptions): Promise<VmHandle | undefined>;
  /** Lists every VM this driver created for cvmweb (on any session), and nothing else. */
  listVms(options?: ActionOptions): Promise<VmSummary[]>;
  /**
   * Optional: tells core that a VM's state may have changed without core asking (the guest
   * powered itself off, someone used the hypervisor's own tools). Core then re-reads that VM's
   * state and updates its session, with the usual events. Drivers that can follow the
   * hypervisor's own event stream implement it; without it such changes are seen at the next
   * `refresh()`. Returns a function that stops both notifications.
   *
   * `onResync` is for the gaps of that stream: a driver calls it whenever it may have missed
   * changes — after its event source reconnected (the hypervisor's daemon restarted, a
   * connection dropped) — once the new source is listening again, not before, so a change is
   * either reported by the new source or seen by the re-read. Core then re-reads the state of
   * every session's VM, as if `listener` had named each. A driver whose event source cannot
   * drop (in-process) never calls it.
   */
  watch?(listener: (vmId: string) => void, onResync?: () => void): () => void;
  /** Releases connections and child processes. Running VMs keep running. */
  dispose(): Promise<void>;
}
