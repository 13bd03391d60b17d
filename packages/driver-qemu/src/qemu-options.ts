import type { ProcessRunner } from '@cvmweb/core/node';

/** Options of the {@link qemu} driver factory. */
export interface QemuOptions {
  /** `qemu-system-<arch>` or its path (default: the machine's architecture, found in `PATH` and the usual folders). */
  qemu?: string;
  /** `qemu-img` or its path (default: found like `qemu`). */
  qemuImg?: string;
  /** `auto` (the platform's accelerator when it really works, else TCG) or `tcg` (default `auto`). */
  acceleration?: 'auto' | 'tcg';
  /**
   * The folder holding one folder per VM (pid file, QMP socket, disks, our marker). Default:
   * `<cvmweb state dir>/qemu` (see `defaultStateDir` of `@cvmweb/core`). Two installations must not
   * share it.
   */
  directory?: string;
  /** Default time of a graceful shutdown before `quit`, in ms (default 30 s). */
  shutdownTimeoutMs?: number;
  /** Time box of one QMP command or one qemu-img run in ms (default 60 s). */
  commandTimeoutMs?: number;
  /**
   * The cgroup v2 mount the execution cap uses (default `/sys/fs/cgroup`); the service's own
   * cgroup is read from `/proc/self/cgroup` below it.
   */
  cgroupRoot?: string;
  /** Replaces the child-process runner (tests). */
  runner?: ProcessRunner;
  /** Receives one line per command run. */
  onDebug?: (message: string) => void;
  /** Writes each guest's serial console to `serial.log` in its folder (debugging). */
  serialLog?: boolean;
}
