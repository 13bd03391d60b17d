export {
  DEFAULT_DETECT_CACHE_TTL_MS,
  DEFAULT_PROBE_TIMEOUT_MS,
  type DetectOptions,
  DRIVER_ENV_VARIABLE,
  detect,
} from './detect.js';
export type { Candidate, Detection, DetectionOverride, OverrideSource } from './detection.js';
export { formatDetectionTable } from './format-detection-table.js';
