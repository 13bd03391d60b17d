import { packageConfig } from '../../tsup.config.base.ts';

export default packageConfig({ index: 'src/index.ts', testing: 'src/testing/index.ts' });
