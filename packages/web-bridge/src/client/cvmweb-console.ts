import { type ErrorCodeValue, HypervisorError, isErrorCode } from '@cvmweb/core/browser';
import { ClientEmitter } from './client-emitter.js';
import type { ConsoleModule, ConsoleOptions, ConsoleView } from './console-module.js';

/** The events of a {@link CVMWebConsole}. */
export interface CVMWebConsoleEvents {
  /**
   * The console ended. `code` is 0 when the page closed it or the VM stopped; otherwise the
   * error code of why the service closed it (`NOT_ALLOWED` -10: a refused or used token,
   * `INVALID_STATE` -8: the VM does not run, `IO` -5: the connection was lost).
   */
  disconnect: [code: number, message: string];
}

/** What a close of the console WebSocket means: 0 for a normal end, else an error code. */
function closeOutcome(code: number, reason: string): { code: number; message: string } {
  if (code >= 4001 && code <= 4099 && isErrorCode(4000 - code)) {
    return { code: 4000 - code, message: `the console was refused: ${reason || code}` };
  }
  if (code === 1000 || code === 1001) return { code: 0, message: reason || 'the console closed' };
  return { code: -5, message: `the console connection was lost (${code}${reason ? `: ${reason}` : ''})` };
}

const modules = new Map<string, Promise<ConsoleModule>>();

/** The console module at `url`, imported once per address. @internal */
export function loadConsoleModule(url: string): Promise<ConsoleModule> {
  let module = modules.get(url);
  if (!module) {
    module = (import(/* @vite-ignore */ /* webpackIgnore: true */ url) as Promise<ConsoleModule>).catch(
      (error: unknown) => {
        modules.delete(url);
        throw new HypervisorError('IO', `cannot load the console module from ${url}`, { cause: error });
      },
    );
    modules.set(url, module);
  }
  return module;
}

/**
 * A VM's screen in the page, made by {@link CVMWebSession.openConsole}: noVNC's canvas inside
 * the page's element, taking keyboard and mouse, through the service's console endpoint.
 */
export class CVMWebConsole extends ClientEmitter<CVMWebConsoleEvents> {
  #view: ConsoleView | undefined;
  #connected = false;
  #ended = false;
  #closing = false;

  /** @internal Made by {@link CVMWebSession.openConsole}, the only way users get one. */
  static create(): CVMWebConsole {
    return new CVMWebConsole();
  }

  // Private: users get consoles from openConsole(), and the shipped .d.ts says so.
  private constructor() {
    super();
  }

  /** True while the screen is shown. */
  get connected(): boolean {
    return this.#connected;
  }

  /** Closes the console and removes its canvas from the element; `disconnect` fires with code 0. */
  disconnect(): void {
    this.#closing = true;
    this.#view?.disconnect();
  }

  /** Gives the console the keyboard focus (a click on it does too). */
  focus(): void {
    this.#view?.focus();
  }

  /** Sends Ctrl+Alt+Del to the VM. */
  sendCtrlAltDel(): void {
    this.#view?.sendCtrlAltDel();
  }

  /** @internal Mounts the console and resolves once the screen is shown, or rejects with why not. */
  mount(module: ConsoleModule, element: unknown, url: string, options: ConsoleOptions): Promise<this> {
    return new Promise((resolve, reject) => {
      this.#view = module.mountConsole(
        element,
        url,
        {
          ...(options.viewOnly !== undefined ? { viewOnly: options.viewOnly } : {}),
          ...(options.scaleViewport !== undefined ? { scaleViewport: options.scaleViewport } : {}),
        },
        {
          connected: () => {
            this.#connected = true;
            resolve(this);
          },
          disconnected: (closeCode, reason) => {
            if (this.#ended) return;
            this.#ended = true;
            const wasConnected = this.#connected;
            this.#connected = false;
            const { code, message } = this.#closing
              ? { code: 0, message: 'the page closed the console' }
              : closeOutcome(closeCode, reason);
            if (!wasConnected) {
              reject(new HypervisorError((code < 0 ? code : -5) as ErrorCodeValue, message));
              return;
            }
            this.fire('disconnect', code, message);
          },
        },
      );
    });
  }
}
