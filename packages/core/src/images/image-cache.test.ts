import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TestImageServer } from '../../test/test-image-server.js';
import { type HypervisorError, isHypervisorError } from '../errors/hypervisor-error.js';
import { ImageCache } from './image-cache.js';
import { ImageCatalog, type ImageEntry } from './image-catalog.js';

const sha = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

async function rejection(promise: Promise<unknown>): Promise<HypervisorError> {
  try {
    await promise;
  } catch (error) {
    if (isHypervisorError(error)) return error;
    throw new Error(`expected a HypervisorError, got ${String(error)}`);
  }
  throw new Error('expected a rejection');
}

async function files(directory: string): Promise<string[]> {
  try {
    return (await readdir(directory)).sort();
  } catch {
    return [];
  }
}

/** Bytes in the partial download of the cache's only download in progress. */
async function partialBytes(): Promise<number> {
  const [name] = await files(join(directory, 'partial'));
  return name === undefined ? 0 : (await stat(join(directory, 'partial', name))).size;
}

/** Resolves once some bytes of the download have reached the partial file. */
async function downloadStarted(): Promise<void> {
  await vi.waitFor(async () => expect(await partialBytes()).toBeGreaterThan(0), { timeout: 10_000 });
}

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

let server: TestImageServer;
let directory: string;
const image = randomBytes(512 * 1024);
const imageSha = sha(image);

function entry(overrides: Partial<ImageEntry> = {}): ImageEntry {
  return {
    version: 'test',
    url: server.url('/test.iso'),
    sha256: imageSha,
    kind: 'iso',
    context: 'cernvm',
    ...overrides,
  };
}

function cache(options: { offline?: boolean; fetch?: typeof fetch; now?: () => number } = {}): ImageCache {
  return new ImageCache({
    directory,
    catalog: new ImageCatalog([entry(), entry({ version: 'alias' })]),
    ...(options.offline === undefined ? {} : { offline: options.offline }),
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    ...(options.now === undefined ? {} : { clock: { now: options.now } }),
  });
}

const noFetch: typeof fetch = () => Promise.reject(new Error('the network must not be used'));

beforeEach(async () => {
  server = await new TestImageServer().start();
  server.routes.set('/test.iso', { body: image });
  directory = await mkdtemp(join(tmpdir(), 'cvmweb-images-'));
});

afterEach(async () => {
  await server.stop();
  await rm(directory, { recursive: true, force: true });
});

describe('ImageCache.ensure', () => {
  it('downloads, verifies and stores an image, reporting progress in bytes', async () => {
    const events: [number, number, string][] = [];
    const resolved = await cache().ensure('test', { onProgress: (...event) => events.push(event) });

    expect(resolved).toMatchObject({ version: 'test', kind: 'iso', context: 'cernvm', sha256: imageSha });
    expect(resolved.path).toBe(join(directory, 'images', `${imageSha}.iso`));
    expect(sha(await readFile(resolved.path))).toBe(imageSha);
    expect(events[0]).toEqual([0, image.length, 'Downloading image test']);
    expect(events.at(-1)).toEqual([image.length, image.length, 'Downloading image test']);
    expect(await files(join(directory, 'partial'))).toEqual([]);
    expect(server.requests).toHaveLength(1);
  });

  it('serves a cached image without the network and without rehashing', async () => {
    await cache().ensure('test');
    const events: [number, number, string][] = [];
    const resolved = await cache({ fetch: noFetch }).ensure('test', {
      onProgress: (...event) => events.push(event),
    });
    expect(resolved.sha256).toBe(imageSha);
    expect(events).toEqual([[image.length, image.length, 'Using cached image test']]);
    expect(server.requests).toHaveLength(1);
  });

  it('rehashes a cached file that changed, and downloads it again when it no longer matches', async () => {
    const first = await cache().ensure('test');
    const damaged = Buffer.from(image);
    damaged[0] = (damaged[0] ?? 0) ^ 0xff;
    await writeFile(first.path, damaged);
    const second = await cache().ensure('test');
    expect(second.path).toBe(first.path);
    expect(sha(await readFile(second.path))).toBe(imageSha);
    expect(server.requests).toHaveLength(2);
  });

  it('fetches a published checksum from sha256Url (first 64-hex token)', async () => {
    server.routes.set('/test.iso.sha256', { body: `${imageSha.toUpperCase()}  test.iso\n` });
    const published = entry({ sha256: undefined, sha256Url: server.url('/test.iso.sha256') });
    const resolved = await cache().ensure(published);
    expect(resolved.sha256).toBe(imageSha);
    expect(server.requestsOf('/test.iso.sha256')).toHaveLength(1);
  });

  it('rejects a sha256Url without a checksum as NOT_VALIDATED', async () => {
    server.routes.set('/test.iso.sha256', { body: 'no checksum here\n' });
    const error = await rejection(
      cache().ensure(entry({ sha256: undefined, sha256Url: server.url('/test.iso.sha256') })),
    );
    expect(error.codeName).toBe('NOT_VALIDATED');
    expect(server.requestsOf('/test.iso')).toHaveLength(0);
  });

  it('keeps nothing when the download does not match its sha256', async () => {
    const wrong = 'f'.repeat(64);
    const error = await rejection(cache().ensure(entry({ sha256: wrong })));
    expect(error.codeName).toBe('NOT_VALIDATED');
    expect(error.details).toEqual({ expected: wrong, actual: imageSha, url: server.url('/test.iso') });
    expect(await files(join(directory, 'images'))).toEqual([]);
    expect(await files(join(directory, 'partial'))).toEqual([]);
  });

  it('resumes an aborted download with a Range request', async () => {
    server.routes.set('/test.iso', { body: image, holdAfter: 64 * 1024 });
    const controller = new AbortController();
    const first = cache().ensure('test', { signal: controller.signal });
    await downloadStarted();
    controller.abort();
    const error = await rejection(first);
    expect(error.codeName).toBe('CONTROL');
    expect(error.aborted).toBe(true);

    server.routes.set('/test.iso', { body: image });
    const resolved = await cache().ensure('test');
    expect(sha(await readFile(resolved.path))).toBe(imageSha);
    const requests = server.requestsOf('/test.iso');
    expect(requests).toHaveLength(2);
    expect(requests[0]?.range).toBeUndefined();
    const offset = Number(/^bytes=(\d+)-$/.exec(requests[1]?.range ?? '')?.[1]);
    expect(offset).toBeGreaterThan(0);
    expect(offset).toBeLessThanOrEqual(64 * 1024);
    expect(requests[1]?.status).toBe(206);
    expect(await files(join(directory, 'partial'))).toEqual([]);
  });

  it('restarts from zero when the server ignores Range', async () => {
    server.routes.set('/test.iso', { body: image, holdAfter: 64 * 1024, ignoreRange: true });
    const controller = new AbortController();
    const first = cache().ensure('test', { signal: controller.signal });
    await downloadStarted();
    controller.abort();
    await rejection(first);

    server.routes.set('/test.iso', { body: image, ignoreRange: true });
    const events: number[] = [];
    const resolved = await cache().ensure('test', { onProgress: (done) => events.push(done) });
    expect(sha(await readFile(resolved.path))).toBe(imageSha);
    const requests = server.requestsOf('/test.iso');
    expect(requests[1]?.range).toMatch(/^bytes=\d+-$/);
    expect(requests[1]?.status).toBe(200);
    expect(events.at(-1)).toBe(image.length);
  });

  it('shares one download between concurrent callers', async () => {
    const release = gate();
    server.routes.set('/test.iso', { body: image, holdAfter: 64 * 1024, release: release.promise });
    const images = cache();
    const seen: number[][] = [[], [], []];
    const pending = Promise.all([
      images.ensure('test', { onProgress: (done) => seen[0]?.push(done) }),
      images.ensure('test', { onProgress: (done) => seen[1]?.push(done) }),
      images.ensure('alias', { onProgress: (done) => seen[2]?.push(done) }),
    ]);
    // Every caller hears of the download before it can end: all three share it.
    await vi.waitFor(() => expect(seen.every((events) => events.length > 0)).toBe(true), { timeout: 10_000 });
    release.open();
    const results = await pending;
    expect(server.requestsOf('/test.iso')).toHaveLength(1);
    expect(new Set(results.map((result) => result.path)).size).toBe(1);
    for (const events of seen) expect(events.at(-1)).toBe(image.length);
    const [listed] = await images.list();
    expect(listed?.versions).toEqual(expect.arrayContaining(['test', 'alias']));
  });

  it('keeps the shared download going when one of two callers aborts', async () => {
    const release = gate();
    server.routes.set('/test.iso', { body: image, holdAfter: 64 * 1024, release: release.promise });
    const images = cache();
    const controller = new AbortController();
    const quitter = images.ensure('test', { signal: controller.signal });
    const stayer = images.ensure('test');
    await downloadStarted();
    controller.abort();
    const error = await rejection(quitter);
    expect(error.aborted).toBe(true);
    release.open();
    const resolved = await stayer;
    expect(sha(await readFile(resolved.path))).toBe(imageSha);
    expect(server.requestsOf('/test.iso')).toHaveLength(1);
  });

  it('rejects at once when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    const error = await rejection(cache().ensure('test', { signal: controller.signal }));
    expect(error.aborted).toBe(true);
    expect(server.requests).toHaveLength(0);
  });

  it('reports network failures as IO with the cause', async () => {
    await server.stop();
    const error = await rejection(cache().ensure('test'));
    expect(error.codeName).toBe('IO');
    expect(error.cause).toBeInstanceOf(Error);
  });

  it('reports a missing file on the server as NOT_FOUND', async () => {
    server.routes.set('/test.iso', { body: '', status: 404 });
    const error = await rejection(cache().ensure('test'));
    expect(error.codeName).toBe('NOT_FOUND');
    expect(error.details['status']).toBe(404);
  });

  it('downloads both the kernel and the initrd of a kernel image', async () => {
    const initrd = randomBytes(1000);
    server.routes.set('/vmlinuz', { body: image });
    server.routes.set('/initrd', { body: initrd });
    server.routes.set('/initrd.sha256', { body: `${sha(initrd)}  initrd\n` });
    const resolved = await cache().ensure({
      version: 'k1',
      url: server.url('/vmlinuz'),
      sha256: imageSha,
      initrdUrl: server.url('/initrd'),
      initrdSha256Url: server.url('/initrd.sha256'),
      cmdline: 'console=ttyS0',
      kind: 'kernel',
      context: 'cloud-init',
    });
    expect(resolved).toMatchObject({ kind: 'kernel', cmdline: 'console=ttyS0', context: 'cloud-init' });
    expect(sha(await readFile(resolved.path))).toBe(imageSha);
    expect(sha(await readFile(resolved.initrdPath ?? ''))).toBe(sha(initrd));
    expect((await cache().list()).map((cached) => cached.role).sort()).toEqual(['image', 'initrd']);
  });

  it('copies file: URLs, even offline', async () => {
    const local = join(directory, 'local.iso');
    await writeFile(local, image);
    const resolved = await cache({ offline: true, fetch: noFetch }).ensure(
      entry({ url: pathToFileURL(local).href }),
    );
    expect(sha(await readFile(resolved.path))).toBe(imageSha);
  });

  it('exposes a lazy ImageSource', async () => {
    const images = cache();
    const source = images.source('test');
    expect(source).toMatchObject({ version: 'test', context: 'cernvm' });
    expect(server.requests).toHaveLength(0);
    expect((await source.resolve()).sha256).toBe(imageSha);
    expect(() => images.source('nope')).toThrow(expect.objectContaining({ codeName: 'NOT_FOUND' }));
  });
});

describe('ImageCache offline', () => {
  it('serves cached images when offline, pinned or published checksum', async () => {
    server.routes.set('/test.iso.sha256', { body: `${imageSha}  test.iso\n` });
    const published = entry({ version: 'pub', sha256: undefined, sha256Url: server.url('/test.iso.sha256') });
    await cache().ensure('test');
    const requests = server.requests.length;
    const offline = cache({ offline: true, fetch: noFetch });
    expect((await offline.ensure('test')).sha256).toBe(imageSha);
    expect((await offline.ensure(published)).sha256).toBe(imageSha);
    expect(server.requests).toHaveLength(requests);
  });

  it('serves a cached image when the network is down', async () => {
    server.routes.set('/test.iso.sha256', { body: `${imageSha}  test.iso\n` });
    const published = entry({ sha256: undefined, sha256Url: server.url('/test.iso.sha256') });
    await cache().ensure(published);
    await server.stop();
    expect((await cache().ensure(published)).sha256).toBe(imageSha);
  });

  it('rejects an image that is not cached with NOT_FOUND when offline', async () => {
    let calls = 0;
    const error = await rejection(
      cache({
        offline: true,
        fetch: (...args) => {
          calls++;
          return fetch(...args);
        },
      }).ensure('test'),
    );
    expect(error.codeName).toBe('NOT_FOUND');
    expect(error.message).toMatch(/offline/);
    expect(error.details).toMatchObject({ version: 'test', offline: true });
    expect(calls).toBe(0);
  });
});

describe('ImageCache.list and prune', () => {
  it('lists cached images with their use', async () => {
    let now = 1_000;
    const images = cache({ now: () => now });
    await images.ensure('test');
    now = 5_000;
    await images.ensure('alias');
    const [listed, ...rest] = await images.list();
    expect(rest).toEqual([]);
    expect(listed).toMatchObject({
      version: 'alias',
      versions: ['test', 'alias'],
      size: image.length,
      sha256: imageSha,
      role: 'image',
      path: join(directory, 'images', `${imageSha}.iso`),
    });
    expect(listed?.lastUsed.getTime()).toBe(5_000);
  });

  it('removes images by age, keeping the kept versions', async () => {
    const other = randomBytes(2048);
    server.routes.set('/other.iso', { body: other });
    let now = 0;
    const images = cache({ now: () => now });
    await images.ensure('test');
    now = 10_000;
    await images.ensure(entry({ version: 'other', url: server.url('/other.iso'), sha256: sha(other) }));
    now = 20_000;

    expect((await images.prune({ olderThanMs: 15_000, keep: ['test'] })).removed).toEqual([]);
    const result = await images.prune({ olderThanMs: 15_000 });
    expect(result.removed.map((cached) => cached.version)).toEqual(['test']);
    expect(result.freedBytes).toBe(image.length);
    expect((await images.list()).map((cached) => cached.version)).toEqual(['other']);
    expect(await files(join(directory, 'images'))).toEqual([`${sha(other)}.iso`, `${sha(other)}.json`]);
  });

  it('removes everything with all, and stale partial downloads', async () => {
    const images = cache();
    await images.ensure('test');
    await mkdir(join(directory, 'partial'), { recursive: true });
    await writeFile(join(directory, 'partial', 'stale.part'), 'xyz');

    const untouched = await images.prune();
    expect(untouched.removed).toEqual([]);
    expect(untouched.removedPartials).toEqual([]);

    const result = await images.prune({ all: true });
    expect(result.removed).toHaveLength(1);
    expect(result.removedPartials).toEqual([join(directory, 'partial', 'stale.part')]);
    expect(result.freedBytes).toBe(image.length + 3);
    expect(await files(join(directory, 'images'))).toEqual([]);
    expect(await files(join(directory, 'partial'))).toEqual([]);
    await expect(stat(join(directory, 'images'))).resolves.toBeDefined();
  });

  it('removes every image not kept when given keep alone', async () => {
    const images = cache();
    await images.ensure('test');
    expect((await images.prune({ keep: ['alias'] })).removed).toHaveLength(1);
    expect(await images.list()).toEqual([]);
  });
});
