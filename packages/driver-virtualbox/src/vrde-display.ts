import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { DisplayEndpoint } from '@cvmweb/core';
import { HypervisorError } from '@cvmweb/core';
import { isPng, newVncPassword, writeFileAtomic } from '@cvmweb/core/node';

/** The user name VBoxAuthSimple checks the password of (`VBoxAuthSimple/users/<user>`). */
export const VRDE_USER = 'cvmweb';

/** How many ports the VRDE server may try (`--vrdeport first-last`) when the first is taken. */
export const VRDE_PORT_RANGE = 100;

/** The display password's file in the VM's folder (mode 0600). */
export const VRDE_PASSWORD_FILE = 'cvmweb-display.secret';

/** One extension pack as `VBoxManage list extpacks` prints it (VBoxManageList.cpp, `listExtensionPacks`). */
export interface ExtPack {
  readonly name: string;
  readonly vrdeModule: string;
  readonly usable: boolean;
  readonly whyUnusable: string;
}

/**
 * The packs of `list extpacks`: `Pack no. N:   <name>`, then `VRDE Module:  <module>`,
 * `Usable:       true|false`, `Why unusable: <text>`.
 */
export function parseExtPacks(stdout: string): ExtPack[] {
  const packs: ExtPack[] = [];
  let current: { name: string; vrdeModule: string; usable: boolean; whyUnusable: string } | undefined;
  for (const line of stdout.split(/\r?\n/)) {
    const pack = /^Pack no\.\s*\d+:\s*(.*)$/.exec(line);
    if (pack) {
      current = { name: (pack[1] ?? '').trim(), vrdeModule: '', usable: false, whyUnusable: '' };
      packs.push(current);
      continue;
    }
    const field = /^(VRDE Module|Usable|Why unusable):\s*(.*)$/.exec(line);
    if (!current || !field) continue;
    const value = (field[2] ?? '').trim();
    if (field[1] === 'VRDE Module') current.vrdeModule = value;
    else if (field[1] === 'Usable') current.usable = value === 'true';
    else current.whyUnusable = value;
  }
  return packs;
}

/**
 * Why VirtualBox cannot serve a display here, or `undefined` when it can: its RDP server (VRDE)
 * is not part of VirtualBox itself but of Oracle's VM VirtualBox Extension Pack (an extension
 * pack with a `VRDE Module`), which must be installed and usable.
 */
export function vrdeUnavailableReason(packs: readonly ExtPack[]): string | undefined {
  if (packs.some((p) => p.usable && p.vrdeModule !== '')) return undefined;
  const broken = packs.find((p) => p.vrdeModule !== '');
  if (broken) {
    return `VirtualBox's RDP server comes from the extension pack "${broken.name}", which is not usable: ${broken.whyUnusable || 'no reason given'}`;
  }
  return "VirtualBox's RDP server (VRDE) needs Oracle VM VirtualBox Extension Pack, which is not installed (https://www.virtualbox.org/wiki/Downloads, then VBoxManage extpack install <file>)";
}

/** The SHA-256 hash VBoxAuthSimple compares a password with (as `VBoxManage internalcommands passwordhash`). */
export function vrdePasswordHash(password: string): string {
  return createHash('sha256').update(password, 'utf8').digest('hex');
}

/** A new display password, written to the VM's folder; returns it. */
export async function newVrdePassword(folder: string): Promise<string> {
  const password = newVncPassword();
  await writeFileAtomic(path.join(folder, VRDE_PASSWORD_FILE), password, { mode: 0o600 });
  return password;
}

/**
 * The display of a running VM from its `showvminfo --machinereadable` keys: `vrde="on"` and
 * `vrdeport=N` (the port the server bound; -1 before it started, 0 when it could not start);
 * `undefined` without one.
 */
export async function vrdeEndpoint(
  info: ReadonlyMap<string, string>,
  folder: string | undefined,
): Promise<DisplayEndpoint | undefined> {
  const port = Number(info.get('vrdeport'));
  if (info.get('vrde') !== 'on' || !Number.isInteger(port) || port <= 0) return undefined;
  const password = folder
    ? await readFile(path.join(folder, VRDE_PASSWORD_FILE), 'utf8').catch(() => '')
    : '';
  return { protocol: 'rdp', host: '127.0.0.1', port, user: VRDE_USER, ...(password ? { password } : {}) };
}

/** Runs `take(file)` (`controlvm … screenshotpng <file>`) into a temporary folder and returns the PNG. */
export async function vboxScreenshot(take: (file: string) => Promise<unknown>): Promise<Uint8Array> {
  const dir = await mkdtemp(path.join(tmpdir(), 'cvmweb-vbox-screen-'));
  try {
    const file = path.join(dir, 'screen.png');
    await take(file);
    const png = await readFile(file);
    if (!isPng(png)) {
      throw new HypervisorError('EXTERNAL', 'VBoxManage screenshotpng wrote no PNG', {
        details: { bytes: png.length },
      });
    }
    return png;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
