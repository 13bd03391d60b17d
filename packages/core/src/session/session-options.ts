import type { ActionOptions } from '../action-options.js';

/** Options of a session action. */
export interface SessionActionOptions extends ActionOptions {
  /**
   * Who asks. `user` (the default) marks a `stop()`, `close()`, `pause()` or `hibernate()` as the
   * user's own decision ({@link Session.stoppedByUser}), so the daemon leaves the VM be (only
   * `DF_AUTOSTART` starts it again); the daemon passes `daemon`.
   */
  initiator?: 'user' | 'daemon';
}

/** Options of {@link Session.start}. */
export interface StartOptions extends SessionActionOptions {
  /** Values for `${name}` / `${name:default}` placeholders in the user data. */
  values?: Readonly<Record<string, string>>;
  /** `false`: use the user data exactly as given, placeholders and all. Default `true`. */
  expand?: boolean;
  /**
   * `true`: boot with the user data of the last boot instead of `userData` (its medium and text
   * stay in the VM's own directory while the VM exists); what the daemon's `DF_AUTOSTART` uses,
   * since the session registry keeps no user data. Rejects with `INVALID_STATE` when the VM has
   * never booted.
   */
  again?: boolean;
}
