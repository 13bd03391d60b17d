import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeDriver } from '../../test/fake-driver.js';
import { rejection } from '../../test/rejection.js';
import { createCvmweb } from '../create-cvmweb.js';
import { ImageCache } from '../images/image-cache.js';
import { TEST_SCRYPT_COST } from '../registry/owner-secret.js';
import { SessionState } from '../state/session-state.js';
import { BOOT_USER_DATA_FILE_NAME } from './boot-user-data.js';

const SECRET = 'hunter2-do-not-store';
const TEMPLATE = `[cernvm]\nusers=alice:users:\${password}\n`;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Every file under `root` whose content holds `needle`, relative to `root`. */
async function filesHolding(root: string, needle: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    if ((await readFile(path)).includes(needle)) found.push(relative(root, path));
  }
  return found.sort();
}

async function setup() {
  const stateDir = await mkdtemp(join(tmpdir(), 'cvmweb-session-secrets-test-'));
  const driver = new FakeDriver();
  // The default registry: the files on disk.
  const cvmweb = await createCvmweb({
    driver,
    stateDir,
    secretCost: TEST_SCRYPT_COST,
    images: new ImageCache({ directory: join(stateDir, 'cache') }),
  });
  cleanups.push(async () => {
    await cvmweb.dispose();
    await rm(stateDir, { recursive: true, force: true });
  });
  const session = await cvmweb.requestSession('secrets', 'key');
  const vmDir = join('vms', session.id);
  return { stateDir, driver, session, vmDir };
}

describe('Session user data at rest', () => {
  it('the session registry on disk never holds an expanded placeholder value', async () => {
    const { stateDir, session, vmDir, driver } = await setup();
    await session.open();
    await session.start(TEMPLATE, { values: { password: SECRET } });
    expect(driver.starts.at(-1)?.userData).toContain(SECRET);
    // Only the VM's own directory holds it (the medium the guest boots from, and a copy, 0600),
    // never the session registry.
    expect(await filesHolding(stateDir, SECRET)).toEqual([join(vmDir, BOOT_USER_DATA_FILE_NAME)]);
    expect((await stat(join(stateDir, vmDir, BOOT_USER_DATA_FILE_NAME))).mode & 0o777).toBe(0o600);
    expect(session.record.userData).toBeUndefined();
    await session.stop();
    await session.close();
    expect(await filesHolding(stateDir, SECRET)).toEqual([]);
  });

  it('start again boots with the user data of the last boot, after a stop', async () => {
    const { session, driver } = await setup();
    await session.open();
    await session.start(TEMPLATE, { values: { password: SECRET } });
    await session.stop();
    await session.start('', { again: true });
    expect(session.state).toBe(SessionState.Started);
    expect(driver.starts.at(-1)?.userData).toBe(`[cernvm]\nusers=alice:users:${SECRET}\n`);
  });

  it('start again without an earlier boot rejects with INVALID_STATE', async () => {
    const { session } = await setup();
    await session.open();
    expect((await rejection(session.start('', { again: true }))).code).toBe(-8);
    expect(session.state).toBe(SessionState.Open);
  });
});
