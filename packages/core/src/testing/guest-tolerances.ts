/**
 * How long the conformance suite keeps an observed guest paused, in ms on the observation
 * clock. The guest's uptime must advance by at least this much less than the time that passed
 * around the pause.
 */
export const PAUSE_WINDOW_MS = 2000;

/**
 * How much more, in ms, a paused-and-resumed guest's uptime may advance than the time it was
 * not paused: the granularity of the guest's clock (10 ms for `/proc/uptime`) and the latency of
 * the two HTTP requests that read it. A pause that does not stop the guest exceeds it by
 * {@link PAUSE_WINDOW_MS} minus this.
 */
export const PAUSE_UPTIME_TOLERANCE_MS = 500;

/**
 * How long, in real ms, a request to a paused or stopped guest waits for an answer before the
 * guest counts as silent. A paused VM's port forward may accept the connection and never answer;
 * a stopped one refuses it.
 */
export const SILENT_PROBE_TIMEOUT_MS = 1500;

/** The execution cap, in percent, whose effect on the guest's CPU rate the suite measures. */
export const MEASURED_EXECUTION_CAP = 20;

/**
 * How long, in ms on the observation clock, the suite counts the guest's busy loop for one CPU
 * rate (once without a cap, once under {@link MEASURED_EXECUTION_CAP}). With the driver's
 * `cpuTime`, the suite waits instead until the capped VM has been given this window's share of
 * CPU time ({@link MEASURED_EXECUTION_CAP} % of it), however long a loaded host takes.
 */
export const EXECUTION_CAP_WINDOW_MS = 4000;

/**
 * How far the guest's CPU rate under {@link MEASURED_EXECUTION_CAP}, as a fraction of its rate
 * without a cap, may lie above the cap (20 % → at most 0.6). Wide because the uncapped rate of a
 * software-emulated guest on a busy two-core machine is itself well below a whole CPU (a cap is
 * absolute: a guest that gets 40 % of a CPU uncapped shows 0.5 under a 20 % cap); an ignored cap
 * still shows about 1. Below the cap only "still runs" is required: the capped guest must make
 * progress.
 */
export const EXECUTION_CAP_TOLERANCE = 0.4;

/**
 * How far the share of a CPU a VM under {@link MEASURED_EXECUTION_CAP} is given, as the driver's
 * `cpuTime` accounts it over wall time, may lie above the cap (20 % → at most 0.3): the
 * hypervisor's accounting granularity and one period of its scheduler. A load on the host only
 * lowers the share; an ignored cap shows what the VM gets uncapped (about 1 on a host with a CPU
 * to spare).
 */
export const EXECUTION_CAP_SHARE_TOLERANCE = 0.1;
