/**
 * @cvmweb/test-guest: the cvmweb test guest as a kit. It builds (from Debian packages) and caches
 * a small busybox guest — kernel + initrd for direct boot, and a bootable ISO — whose HTTP API on
 * port 80 is the cvmweb guest API (`GUEST_REPORT_PATH` of `@cvmweb/core`: boot id, uptime, the
 * user data and context medium it found, a busy loop, the keys typed on its screen), and gives it to core's image cache as a
 * catalog, so a driver author runs the conformance suite against a guest it can observe.
 *
 * @packageDocumentation
 */
export { BUILD_SCRIPT, type TestGuest, type TestGuestOptions, testGuest } from './test-guest.js';
export { TEST_GUEST_VERSIONS, testGuestCatalog, testGuestImages } from './test-guest-catalog.js';
export { TEST_GUEST_SCREEN, TEST_GUEST_SCROLL_PATH } from './test-guest-screen.js';
