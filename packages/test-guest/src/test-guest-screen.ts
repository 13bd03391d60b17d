/**
 * The test guest's screen: a 1024×768 framebuffer console (the kernel's bochs driver on the VM's
 * standard VGA, `video=1024x768`), which a VNC client and a screenshot see. At boot, before its
 * API answers, the guest clears it and writes its `banner` on its first line;
 * keys typed on the VM's keyboard are echoed there and reported as `keys` by the guest API.
 */
export const TEST_GUEST_SCREEN = Object.freeze({
  /** Width in pixels. */
  width: 1024,
  /** Height in pixels. */
  height: 768,
  /** The banner on the first line of the cleared screen. */
  banner: 'cvmweb test guest ready',
  /** The character cell in pixels (the kernel's 8×16 font): the banner fills `banner.length` cells of line 0. */
  cell: Object.freeze({
    /** A cell's width in pixels. */
    width: 8,
    /** A cell's height in pixels. */
    height: 16,
  }),
});

/**
 * An HTTP `GET` on the guest's API endpoint at this path makes its screen change all the time
 * (for display throughput measurements) and answers at once: from then on, once per boot, a
 * numbered line is written to the screen every 20 ms (fewer under emulation), so it scrolls.
 */
export const TEST_GUEST_SCROLL_PATH = '/cgi-bin/cvmweb-scroll';
