import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ActionOptions, DisplayEndpoint } from '@cvmweb/core';
import {
  newVncPassword,
  releaseLoopbackPort,
  reserveFreeLoopbackPort,
  screenImageToPng,
  writeFileAtomic,
} from '@cvmweb/core/node';

/** VNC display N listens on TCP port 5900 + N. */
export const VNC_BASE_PORT = 5900;

/** How many displays QEMU tries (`-vnc …,to=`) from the first when its port is taken. */
export const VNC_DISPLAY_RANGE = 100;

/** Runs one QMP command on the VM's command monitor. */
export type QmpExecute = <T = unknown>(
  command: string,
  args: Record<string, unknown> | undefined,
  options: ActionOptions,
) => Promise<T>;

/**
 * The first VNC display number to offer QEMU for one launch: from a loopback port reserved with
 * core's one reservation primitive (so no other VM of this process is given it meanwhile), and
 * the function that gives it back once QEMU has bound its port. QEMU takes the first free display
 * of the {@link VNC_DISPLAY_RANGE} from there, and {@link readQemuDisplay} asks which.
 */
export async function reserveVncDisplay(): Promise<{ display: number; release: () => void }> {
  const port = await reserveFreeLoopbackPort();
  return { display: Math.max(0, port - VNC_BASE_PORT), release: () => releaseLoopbackPort(port) };
}

/**
 * Gives the launched QEMU's VNC server (started with `password=on`, so it refuses everyone until
 * now) a new random password (QMP `change-vnc-password`), kept in `file` (mode 0600) for every
 * process that later handles the VM.
 */
export async function setDisplayPassword(
  execute: QmpExecute,
  file: string,
  options: ActionOptions,
): Promise<void> {
  const password = newVncPassword();
  await writeFileAtomic(file, password, { mode: 0o600 });
  await execute('change-vnc-password', { password }, options);
}

/**
 * Where the running QEMU's VNC server listens (QMP `query-vnc`), with the password of `file`;
 * `undefined` when it has none (a QEMU launched without `-vnc`).
 */
export async function readQemuDisplay(
  execute: QmpExecute,
  file: string,
  options: ActionOptions,
): Promise<DisplayEndpoint | undefined> {
  const vnc = await execute<{ enabled: boolean; host?: string; service?: string }>(
    'query-vnc',
    undefined,
    options,
  );
  const port = Number(vnc.service);
  if (!vnc.enabled || vnc.host !== '127.0.0.1' || !Number.isInteger(port) || port <= 0) return undefined;
  const password = await readFile(file, 'utf8').catch(() => '');
  return { protocol: 'vnc', host: '127.0.0.1', port, ...(password ? { password } : {}) };
}

/** The screen of the running QEMU as a PNG: QMP `screendump` writes a PPM, converted by core. */
export async function takeQemuScreenshot(execute: QmpExecute, options: ActionOptions): Promise<Uint8Array> {
  const dir = await mkdtemp(join(tmpdir(), 'cvmweb-qemu-screen-'));
  try {
    const file = join(dir, 'screen.ppm');
    await execute('screendump', { filename: file }, options);
    return screenImageToPng(await readFile(file));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
