/**
 * The recorded texts of the failures volunteers hit (fixtures/SOURCES.md, "failure modes"), each
 * checked by src/failure-modes.test.ts rather than by src/fixtures.test.ts.
 */
export const FAILURE_MODE_FIXTURES = [
  'error.vtx-disabled.startvm.txt',
  'error.nem-hyperv.startvm.windows.txt',
  'error.hyperv-raw-mode.startvm.windows.txt',
  'error.vboxsvc-down.list-vms.windows.txt',
  'error.folder-not-writable.import.windows.txt',
  'error.inaccessible.showvminfo.vbox72.txt',
  'showvminfo.inaccessible.stdout.vbox4.txt',
  'showvminfo.inaccessible.stderr.vbox4.txt',
] as const;
