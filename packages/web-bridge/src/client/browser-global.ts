import { CVMWeb } from './index.js';

(globalThis as { CVMWeb?: typeof CVMWeb }).CVMWeb = CVMWeb;
