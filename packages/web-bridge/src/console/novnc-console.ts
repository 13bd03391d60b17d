/**
 * The console's ES module, served at `/console.js` and loaded by the client with `import()` only
 * when a page opens a console: noVNC (`@novnc/novnc`) on a WebSocket to the service's console
 * endpoint. The service speaks RFB 3.8 with security type None towards the page: it did the VNC
 * authentication itself, so no password reaches the page.
 */
import RFB from '@novnc/novnc';
import type { ConsoleModule, ConsoleView } from '../client/console-module.js';

export const mountConsole: ConsoleModule['mountConsole'] = (element, url, options, hooks): ConsoleView => {
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  let closed = { code: 1006, reason: '' };
  // Registered before noVNC's own handler: the close code is known when noVNC says `disconnect`.
  ws.addEventListener('close', (event) => {
    closed = { code: event.code, reason: event.reason };
  });
  const rfb = new RFB(element as HTMLElement, ws, { shared: true });
  rfb.viewOnly = options.viewOnly ?? false;
  rfb.scaleViewport = options.scaleViewport ?? true;
  rfb.focusOnClick = true;
  rfb.addEventListener('connect', () => hooks.connected());
  rfb.addEventListener('disconnect', () => hooks.disconnected(closed.code, closed.reason));
  return {
    disconnect: () => rfb.disconnect(),
    focus: () => rfb.focus(),
    sendCtrlAltDel: () => rfb.sendCtrlAltDel(),
  };
};
