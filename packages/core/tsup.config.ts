import { packageConfig } from '../../tsup.config.base.ts';

export default packageConfig(
  {
    index: 'src/index.ts',
    browser: 'src/browser.ts',
    node: 'src/node.ts',
    testing: 'src/testing/index.ts',
  },
  { external: ['vitest'] },
);
