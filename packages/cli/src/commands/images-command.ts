import { join } from 'node:path';
import { defaultCacheDir, defaultStateDir, ImageCache, ImageCatalog } from '@cvmweb/core';
import { formatTable, USER_CATALOG_FILE } from '@cvmweb/core/node';
import type { CliIo } from '../cli-io.js';
import { ExitCode } from '../exit-codes.js';
import { formatBytes } from '../format-bytes.js';
import { progressReporter } from '../progress-reporter.js';
import { usageError } from '../usage-error.js';

/** Flags of `cvmweb images`. */
export interface ImagesFlags {
  json: boolean;
  all: boolean;
  keep: string[];
  cacheDir?: string;
  stateDir?: string;
  catalog?: string;
}

/** `cvmweb images list|pull <version>|prune`. */
export async function imagesCommand(io: CliIo, args: readonly string[], flags: ImagesFlags): Promise<number> {
  const [sub, version, ...extra] = args;
  const catalog = flags.catalog
    ? await ImageCatalog.load(flags.catalog)
    : await ImageCatalog.load(join(flags.stateDir ?? defaultStateDir(io.env), USER_CATALOG_FILE), {
        missingOk: true,
      });
  const cache = new ImageCache({
    directory: flags.cacheDir ?? defaultCacheDir(io.env),
    catalog,
  });
  const unexpected = sub === 'pull' ? extra[0] : (version ?? extra[0]);
  if (unexpected !== undefined) throw usageError(`unexpected argument "${unexpected}"`);
  switch (sub) {
    case 'list': {
      const cached = await cache.list();
      if (flags.json) {
        io.out(`${JSON.stringify({ cached, catalog: catalog.list() }, null, 2)}\n`);
        return ExitCode.OK;
      }
      io.out(
        `${formatTable(
          ['version', 'kind', 'cached', 'size', 'url'],
          catalog.list().map((entry) => {
            const hit = cached.find((c) => c.versions.includes(entry.version) && c.role === 'image');
            return [
              entry.version,
              entry.kind,
              hit ? 'yes' : 'no',
              hit ? formatBytes(hit.size) : '-',
              entry.url,
            ];
          }),
        )}\n`,
      );
      return ExitCode.OK;
    }
    case 'pull': {
      if (!version) throw usageError('images pull needs a version, e.g. "cvmweb images pull 1.3"');
      const progress = progressReporter(io);
      const controller = new AbortController();
      const onSignal = () => controller.abort();
      process.once('SIGINT', onSignal);
      try {
        const image = await cache.ensure(version, { signal: controller.signal, onProgress: progress.update });
        progress.finish();
        io.out(`${image.version}: ${image.path} (sha256 ${image.sha256})\n`);
      } finally {
        process.off('SIGINT', onSignal);
      }
      return ExitCode.OK;
    }
    case 'prune': {
      const result = await cache.prune({
        ...(flags.all ? { all: true } : {}),
        ...(flags.keep.length ? { keep: flags.keep } : {}),
      });
      io.out(
        `Removed ${result.removed.length} image(s) and ${result.removedPartials.length} partial download(s), freed ${formatBytes(result.freedBytes)}\n`,
      );
      return ExitCode.OK;
    }
    default:
      throw usageError(
        sub ? `unknown images command "${sub}"` : 'images needs list, pull <version> or prune',
      );
  }
}
