/** What a page chooses about its console, for {@link CVMWebSession.openConsole}. */
export interface ConsoleOptions {
  /** Shows the screen without sending keys or pointer events (default false). */
  viewOnly?: boolean;
  /** Scales the screen to fit the element (default true); else it is shown at its own size. */
  scaleViewport?: boolean;
  /**
   * Where to load the console's module from: default `<service>/console.js`, the noVNC build the
   * service serves. A site whose Content-Security-Policy does not allow scripts of the service
   * may host the package's `dist/console.js` itself and name it here.
   */
  moduleUrl?: string;
}

/** What the console module tells its caller. @internal */
export interface ConsoleViewHooks {
  /** The screen is shown. */
  connected(): void;
  /** The console ended: the WebSocket's close code and reason. */
  disconnected(code: number, reason: string): void;
}

/** A mounted console, as the console module returns it. @internal */
export interface ConsoleView {
  /** Closes the console and removes its canvas. */
  disconnect(): void;
  /** Gives the console the keyboard focus. */
  focus(): void;
  /** Sends Ctrl+Alt+Del. */
  sendCtrlAltDel(): void;
}

/** The console's ES module (`/console.js`, noVNC inside), loaded with `import()` on first use. @internal */
export interface ConsoleModule {
  /** Shows the display behind the console WebSocket `url` inside `element`. */
  mountConsole(
    element: unknown,
    url: string,
    options: Pick<ConsoleOptions, 'viewOnly' | 'scaleViewport'>,
    hooks: ConsoleViewHooks,
  ): ConsoleView;
}
