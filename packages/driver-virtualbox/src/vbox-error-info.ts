/** A VirtualBox failure, read from `VBoxManage: error:` lines. */
export interface VBoxErrorInfo {
  /** The error lines' text (without `Details:` and `Context:`), joined with newlines. */
  readonly message: string;
  /** The symbolic result code of the `Details:` line, such as `VBOX_E_OBJECT_NOT_FOUND`. */
  readonly resultCode?: string;
  /** Its hexadecimal form, such as `0x80bb0001`. */
  readonly hresult?: string;
  /** The `Details:` line's `component`, such as `MachineWrap`. */
  readonly component?: string;
  /** The `Context:` line. */
  readonly context?: string;
  /** A `VERR_…` status named in the message. */
  readonly status?: string;
  /** True for a usage error (exit code 2). */
  readonly syntax: boolean;
}
