import type { HypervisorError } from '@cvmweb/core/browser';
import type { CVMWebConsole } from '../../client/cvmweb-console.js';
import type { CVMWebSession } from '../../client/cvmweb-session.js';

/**
 * The test page's console panel: opens the session's console (`session.openConsole`) in
 * `#screen`, closes it, sends Ctrl+Alt+Del, and logs how it ended.
 */
export function wireConsolePanel(
  session: () => CVMWebSession | undefined,
  log: (line: string) => void,
): void {
  const button = (id: string) => document.getElementById(id) as HTMLButtonElement;
  const screen = document.getElementById('screen') as HTMLElement;
  let view: CVMWebConsole | undefined;
  const showOpen = (open: boolean) => {
    button('openConsole').disabled = open;
    button('closeConsole').disabled = !open;
    button('ctrlAltDel').disabled = !open;
  };
  showOpen(false);
  button('openConsole').onclick = async () => {
    const current = session();
    if (!current) return log('✗ openConsole: request a session first');
    button('openConsole').disabled = true;
    try {
      const opened = await current.openConsole(screen);
      view = opened;
      opened.addEventListener('disconnect', (code, message) => {
        log(`console closed (${code}): ${message}`);
        if (view === opened) view = undefined;
        showOpen(false);
      });
      showOpen(true);
      opened.focus();
      log('✓ openConsole');
    } catch (error) {
      const e = error as Partial<HypervisorError>;
      log(`✗ openConsole: ${e.codeName} (${e.code}): ${e.message ?? String(error)}`);
      showOpen(false);
    }
  };
  button('closeConsole').onclick = () => view?.disconnect();
  button('ctrlAltDel').onclick = () => view?.sendCtrlAltDel();
}
