import { join } from 'node:path';
import { Cvmweb } from './cvmweb.js';
import { type CvmwebOptions, USER_CATALOG_FILE } from './cvmweb-options.js';
import { detect } from './detector/detect.js';
import type { Detection } from './detector/detection.js';
import { GuardedDriver } from './driver/guarded-driver.js';
import { HypervisorError } from './errors/hypervisor-error.js';
import { ImageCache } from './images/image-cache.js';
import { ImageCatalog } from './images/image-catalog.js';
import { defaultCacheDir, defaultStateDir } from './paths/default-paths.js';
import { describeDamagedRecord } from './registry/damaged-record.js';
import { openSessionRegistry } from './registry/file-session-registry.js';

/**
 * Creates the entry point: picks the driver (the given one, or detection over
 * `drivers`, or the fallback), connects to it through the runtime guard, and
 * opens the session registry and the image cache.
 *
 * @example
 * ```ts
 * // createCvmweb comes from this package, mock() from the @cvmweb/driver-mock package.
 * const cvmweb = await createCvmweb({ driver: mock(), stateDir: '/tmp/cvmweb-demo' });
 * const session = await cvmweb.requestSession('my-session', 'secret');
 * session.addEventListener('apiAvailable', (ip, url) => console.log('API at', url));
 * await session.open({ cpus: 1, ram: 256 });
 * await session.start('[cernvm]\nusers=user:users:s3cr3t');
 * await session.close();
 * await cvmweb.dispose();
 * ```
 */
export async function createCvmweb(options: CvmwebOptions = {}): Promise<Cvmweb> {
  let driver = options.driver;
  let detection: Detection | undefined;
  let fallback = false;
  if (!driver) {
    detection = await detect(options.drivers ?? [], {
      ...(options.prefer ? { prefer: options.prefer } : {}),
      ...(options.env ? { env: options.env } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    driver = detection.winner?.driver;
    if (!driver && options.fallback) {
      driver = options.fallback;
      fallback = true;
    }
    if (!driver) {
      throw new HypervisorError('NOT_FOUND', 'no usable hypervisor was found', {
        details: {
          candidates: detection.candidates.map((c) => ({
            name: c.name,
            reason: c.rejected,
            fix: c.probe.fix,
          })),
        },
      });
    }
  }
  const stateDir = options.stateDir ?? defaultStateDir();
  const guard = new GuardedDriver(driver);
  const hypervisor = await guard.connect(options.signal ? { signal: options.signal } : undefined);
  let registry = options.registry;
  const ownsRegistry = !registry;
  try {
    registry ??= await openSessionRegistry({
      directory: stateDir,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (error) {
    await guard.dispose();
    throw error;
  }
  for (const damaged of registry.damaged()) {
    try {
      options.onWarning?.({ message: describeDamagedRecord(damaged), damaged });
    } catch {
      // A listener's failure must not break the start.
    }
  }
  let images = options.images;
  if (!images) {
    try {
      const catalog = await ImageCatalog.load(join(stateDir, USER_CATALOG_FILE), { missingOk: true });
      images = new ImageCache({ directory: defaultCacheDir(), catalog });
    } catch (error) {
      await guard.dispose();
      if (ownsRegistry) await registry.close();
      throw error;
    }
  }
  return Cvmweb.create({
    guard,
    hypervisor,
    registry,
    ownsRegistry,
    images,
    detection,
    fallback,
    stateDir,
    options,
  });
}
