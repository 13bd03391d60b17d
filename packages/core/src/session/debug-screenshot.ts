import type { GuardedVm } from '../driver/guarded-driver.js';

/** The largest screenshot the `debug` stream carries (PNG bytes); a bigger one is only named. */
export const MAX_DEBUG_SCREENSHOT_BYTES = 1024 * 1024;

/** How long one screenshot for the `debug` stream may take. */
const SCREENSHOT_TIMEOUT_MS = 15_000;

/**
 * Sends the VM's screen to the `debug` stream (as BOINC's `enable_screenshots_on_error` does)
 * when something went wrong that the screen may explain: a start that failed, an API that never
 * answered. `emit` receives one line saying why, and the PNG as a `data:image/png;base64,…` URL
 * when there is one of at most {@link MAX_DEBUG_SCREENSHOT_BYTES}; the line says why not
 * otherwise. Never rejects.
 * @internal
 */
export async function debugScreenshot(
  vm: GuardedVm | undefined,
  why: string,
  emit: (message: string, screenshot?: string) => void,
): Promise<void> {
  if (!vm) return;
  let png: Uint8Array;
  try {
    png = await vm.screenshot({ signal: AbortSignal.timeout(SCREENSHOT_TIMEOUT_MS) });
  } catch (error) {
    emit(`${why}; no screenshot: ${error instanceof Error ? error.message : String(error)}`);
    return;
  }
  if (png.byteLength > MAX_DEBUG_SCREENSHOT_BYTES) {
    emit(
      `${why}; the screenshot (${png.byteLength} bytes) is over ${MAX_DEBUG_SCREENSHOT_BYTES} bytes, left out`,
    );
    return;
  }
  const base64 = Buffer.from(png.buffer, png.byteOffset, png.byteLength).toString('base64');
  emit(`${why}; screenshot attached (${png.byteLength} bytes of PNG)`, `data:image/png;base64,${base64}`);
}
