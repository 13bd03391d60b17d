import { readFileSync } from 'node:fs';
import { packageConfig } from '../../tsup.config.base.ts';

const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as {
  version: string;
};

export default packageConfig(
  { index: 'src/index.ts', bin: 'src/bin.ts' },
  { define: { __CVMWEB_CLI_VERSION__: JSON.stringify(version) } },
);
