#!/usr/bin/env node
// A stateful test double of VirtualBox's VBoxManage, for the driver's tests and bench. This file is
// its entry (argument dispatch, fault switches, --version); the rest is in vboxmanage-double-*.mjs:
// base (output, registry, lock, argument parsing, lookups), machine (createvm, modifyvm, storage),
// run (media, startvm, controlvm, discardstate, unregistervm), show (list, showvminfo, guest
// properties), guest (the simulated guest and its API server), texts (per-version spellings and
// VirtualBox's error texts with their sources).
//
// It keeps its machine and media registry in $VBOX_USER_HOME/vboxmanage-double.json, prints what
// VirtualBox prints (formats, streams and exit codes as recorded in ../../fixtures/SOURCES.md),
// enforces VirtualBox's state rules, and while a VM runs serves its forwarded API port with a tiny
// HTTP server (a detached child whose pid is in the registry; it stops answering while the VM is
// paused and exits when the VM stops). That server is a simulated cvmweb test guest: it serves the
// cvmweb guest API (GUEST_REPORT_PATH and GUEST_SPIN_PATH of @cvmweb/core) with a boot id (new on
// each boot and reset, kept across pause and savestate), an uptime that stands still while paused
// or saved, the user data of the attached context ISO, and busy-loop work in proportion to the
// execution cap.
//
// Fault switches (environment):
//   VBOXDOUBLE_FAIL_CALL=N        the Nth call (counted from when the switch was set) fails, doing nothing
//   VBOXDOUBLE_FAIL_COMMAND=cmd   count only calls of this subcommand (e.g. startvm)
//   VBOXDOUBLE_FAIL_MODE=error|exit0|hang|locked   how it fails (default error, exit code 1)
//   VBOXDOUBLE_VERSION=7.0.14_SUSEr161095           the version reported (default 7.0.14r161095)
//   VBOXDOUBLE_WARNING=vboxdrv|dkms                 a WARNING block before the version, as Linux wrappers print
//   VBOXDOUBLE_ACPI=ignore        the guest ignores the ACPI power button
//   VBOXDOUBLE_VMX_ROOT=1         startvm fails with VERR_VMX_IN_VMX_ROOT_MODE (KVM holds VT-x)
//   VBOXDOUBLE_STARTVM_FAILURE=vtx-disabled|nem|vboxdrv|vmx-root   startvm fails with that host problem's text
//   VBOXDOUBLE_SVC=down           every command but --version fails as when VBoxSVC does not answer
//   VBOXDOUBLE_FOLDER=readonly    createvm cannot create the machine folder (VERR_ACCESS_DENIED)
//   VBOXDOUBLE_VMSTATE=value      showvminfo prints this VMState instead of the VM's own
//
// The version decides what the double accepts: 6.x knows only the old modifyvm spellings, 7.x also
// the dashed ones; 7.2+ fails showvminfo of an inaccessible VM (see vboxmanage-double-texts.mjs).
// A VM whose settings file is gone is inaccessible, as in VirtualBox. `__double-lock <uuid> <name>`
// and `__double-unlock <uuid>` make another "process" (such as the GUI) hold or release a VM's lock.

import fs from 'node:fs';
import {
  CALLEE,
  Exit,
  env,
  eprint,
  err,
  HOME,
  lock,
  lockedError,
  out,
  PREFIX,
  print,
  readRegistry,
  unlock,
  VERSION,
  writeRegistry,
} from './vboxmanage-double-base.mjs';
import { serve } from './vboxmanage-double-guest.mjs';
import { machineCommands } from './vboxmanage-double-machine.mjs';
import { runCommands } from './vboxmanage-double-run.mjs';
import { showCommands } from './vboxmanage-double-show.mjs';
import { VBOXSVC_DOWN } from './vboxmanage-double-texts.mjs';

const commands = { ...machineCommands, ...runCommands, ...showCommands };

// ---------------------------------------------------------------- main

function versionOutput() {
  versionWarning();
  print(VERSION);
}

function versionWarning() {
  if (env.VBOXDOUBLE_WARNING === 'vboxdrv') {
    print('WARNING: The vboxdrv kernel module is not loaded. Either there is no module');
    print('         available for the current kernel (5.0.0-27-generic) or it failed to');
    print('         load. Please recompile the kernel module and install it by');
    print();
    print('           sudo /sbin/vboxconfig');
    print();
    print('         You will not be able to start VMs until this problem is fixed.');
  } else if (env.VBOXDOUBLE_WARNING === 'dkms') {
    print('WARNING: The character device /dev/vboxdrv does not exist.');
    print('\t Please install the virtualbox-dkms package and the appropriate');
    print('\t headers, most likely linux-headers-generic.');
    print();
    print('\t You will not be able to start VMs until this problem is fixed.');
  }
}

function injectedFault(registry, command) {
  const spec = env.VBOXDOUBLE_FAIL_CALL;
  if (!spec) return null;
  const filter = env.VBOXDOUBLE_FAIL_COMMAND || '';
  const key = `${spec}|${filter}|${env.VBOXDOUBLE_FAIL_MODE || ''}`;
  if (registry.fault?.key !== key) registry.fault = { key, count: 0 };
  if (filter && filter !== command) return null;
  registry.fault.count++;
  return registry.fault.count === Number(spec) ? env.VBOXDOUBLE_FAIL_MODE || 'error' : null;
}

function main(argv) {
  if (argv[0] === '__double-serve') return serve(Number(argv[1]), argv[2]);
  if (!HOME) {
    process.stderr.write(`${PREFIX}: error: the VBoxManage double needs VBOX_USER_HOME\n`);
    process.exit(1);
  }
  fs.mkdirSync(HOME, { recursive: true });
  const [command = '', ...args] = argv;
  let exitCode = 0;
  let hang = false;
  lock();
  try {
    const registry = readRegistry();
    registry.calls++;
    const fault = injectedFault(registry, command);
    writeRegistry(registry);
    try {
      if (fault === 'hang') hang = true;
      else if (env.VBOXDOUBLE_SVC === 'down' && !command.startsWith('-')) {
        for (const line of VBOXSVC_DOWN) eprint(`${PREFIX}: error: ${line}`);
        throw new Exit(1);
      } else if (fault === 'locked') lockedError({ name: args[0] ?? '' }, 'VBoxManageMisc.cpp');
      else if (fault) {
        for (const line of [`Injected failure of '${command}' (call ${registry.calls})`])
          eprint(`${PREFIX}: error: ${line}`);
        eprint(
          `${PREFIX}: error: Details: code NS_ERROR_FAILURE (0x80004005), component MachineWrap, interface IMachine, callee ${CALLEE}`,
        );
        throw new Exit(fault === 'exit0' ? 0 : 1);
      } else if (command === '--version' || command === '-v' || command === '-version' || command === '--v') {
        versionOutput();
      } else if (Object.hasOwn(commands, command)) {
        commands[command](registry, args);
        writeRegistry(registry);
      } else {
        eprint(
          `Oracle VM VirtualBox Command Line Management Interface Version ${VERSION.replace(/r\d+$/, '')}`,
        );
        eprint('Copyright (C) 2005-2024 Oracle and/or its affiliates');
        eprint();
        eprint(`${PREFIX}: error: Invalid command '${command}'`);
        throw new Exit(2);
      }
    } catch (error) {
      if (!(error instanceof Exit)) throw error;
      exitCode = error.code;
    }
  } finally {
    unlock();
  }
  if (hang) {
    setInterval(() => {}, 60_000);
    return;
  }
  // The Linux wrapper script prints its WARNING before every command's own output.
  if (command !== '--version' && command !== '-v' && env.VBOXDOUBLE_WARNING) {
    const body = out.splice(0);
    versionWarning();
    out.push(...body);
  }
  process.stdout.write(out.join(''));
  process.stderr.write(err.join(''));
  process.exitCode = exitCode;
}

main(process.argv.slice(2));
