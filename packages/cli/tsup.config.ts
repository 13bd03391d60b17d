import { readFileSync } from 'node:fs';
import { packageConfig } from '../../tsup.config.base.ts';

const read = (file: string) => readFileSync(new URL(file, import.meta.url), 'utf8');
const version = (file: string) => (JSON.parse(read(file)) as { version: string }).version;

// The command bundles every @cvmweb package and dependency it uses (start-up resolves a few
// files instead of hundreds), split so that each command loads only its own code. The web bridge
// is bundled too, so the files it serves and its version are written in (it cannot find them
// from this package's folder).
const bridgeAssets = {
  'cvmweb.global.js': read('../web-bridge/dist/cvmweb.global.js'),
  'test-page.global.js': read('../web-bridge/dist/test-page.global.js'),
  version: version('../web-bridge/package.json'),
};

export default packageConfig(
  { index: 'src/index.ts', bin: 'src/bin.ts' },
  {
    define: {
      __CVMWEB_CLI_VERSION__: JSON.stringify(version('./package.json')),
      __CVMWEB_EMBEDDED_BRIDGE_ASSETS__: JSON.stringify(bridgeAssets),
    },
    noExternal: [/./],
    minifyWhitespace: true,
    minifySyntax: true,
    // ws uses these native add-ons when they are installed; they cannot be bundled.
    external: ['bufferutil', 'utf-8-validate'],
    // The CommonJS dependencies bundled into these ES modules require Node's built-in modules.
    banner: {
      js: "import { createRequire as __cvmwebCreateRequire } from 'node:module';\nconst require = __cvmwebCreateRequire(import.meta.url);",
    },
  },
);
