/** The version of the bridge protocol this package speaks; every frame carries it as `v`. */
export const PROTOCOL_VERSION = 1;
