import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '@cvmweb/core/node';

/**
 * The fw_cfg file through which a guest reads its session's properties: QEMU's
 * `-fw_cfg name=opt/cvmweb/properties,file=<VM folder>/properties.json`, a JSON object of
 * strings. In a Linux guest with `qemu_fw_cfg` (CONFIG_FW_CFG_SYSFS) it is
 * `/sys/firmware/qemu_fw_cfg/by_name/opt/cvmweb/properties/raw`. QEMU reads the file when it
 * starts, so a change reaches the guest at its next launch.
 */
export const PROPERTIES_FW_CFG_NAME = 'opt/cvmweb/properties';

/** The properties in `file` (none when it is missing or unreadable). */
export async function readProperties(file: string): Promise<Record<string, string>> {
  try {
    const value = JSON.parse(await readFile(file, 'utf8')) as unknown;
    return value && typeof value === 'object' ? (value as Record<string, string>) : {};
  } catch {
    return {};
  }
}

/** Sets property `key` in `file` (atomically). */
export async function writeProperty(file: string, key: string, value: string): Promise<void> {
  const properties = { ...(await readProperties(file)), [key]: value };
  await writeFileAtomic(file, `${JSON.stringify(properties)}\n`, { mode: 0o600 });
}

/** Makes sure `file` exists before QEMU starts (`{}` when no property was set). */
export async function ensureProperties(file: string): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(await readProperties(file))}\n`, { mode: 0o600 });
}
