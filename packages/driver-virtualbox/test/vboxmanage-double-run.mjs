// Part of the VBoxManage double (see vboxmanage-double.mjs).
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  attachedTo,
  Exit,
  env,
  eprint,
  fail,
  findMedium,
  findVm,
  inaccessible,
  killServer,
  limited,
  locked,
  PREFIX,
  parseArgs,
  print,
  progress,
  running,
  STATE_NAMES,
  setState,
  syntax,
  vmFolder,
} from './vboxmanage-double-base.mjs';
import { screenshotPng } from './vboxmanage-double-display.mjs';
import { bootGuest, settleGuest, startServer } from './vboxmanage-double-guest.mjs';
import { prop } from './vboxmanage-double-show.mjs';
import { FAILURES } from './vboxmanage-double-texts.mjs';

/** Media and the running machine: `createmedium`, `closemedium`, `startvm`, `controlvm`, `discardstate`, `unregistervm`. */
export const runCommands = {
  createhd(registry, args) {
    runCommands.createmedium(registry, args);
  },

  createmedium(registry, args) {
    const rest = ['disk', 'dvd', 'floppy'].includes(args[0]) ? args.slice(1) : args;
    const { options } = parseArgs(rest, {
      '--filename': 'string',
      '--size': 'string',
      '--format': 'string',
      '--variant': 'string',
    });
    const file = options['--filename'];
    if (!file) syntax('Parameters --filename is required');
    const size = Number(options['--size']);
    if (!Number.isInteger(size) || size <= 0) syntax('Parameter --size is required');
    let location = path.resolve(file);
    if (!path.extname(location)) location += `.${(options['--format'] ?? 'vdi').toLowerCase()}`;
    if (fs.existsSync(location) || findMedium(registry, location)) {
      fail(
        `Failed to create medium\nCould not create the medium storage unit '${location}'.\nVD: error VERR_ALREADY_EXISTS creating image file '${location}' (VERR_ALREADY_EXISTS)`,
        'FILE_ERROR',
        'MediumWrap',
        'IMedium',
      );
    }
    if (!fs.existsSync(path.dirname(location))) {
      fail(
        `Failed to create medium\nCould not create the medium storage unit '${location}'.\nVD: error VERR_PATH_NOT_FOUND creating image file '${location}' (VERR_PATH_NOT_FOUND)`,
        'FILE_ERROR',
        'MediumWrap',
        'IMedium',
      );
    }
    fs.writeFileSync(location, '<<< Oracle VM VirtualBox Disk Image >>>\n');
    const uuid = randomUUID();
    registry.media.push({
      uuid,
      kind: 'hdd',
      location,
      format: (options['--format'] ?? 'VDI').toUpperCase(),
      sizeMiB: size,
      parent: null,
      type: 'normal',
    });
    progress();
    print(`Medium created. UUID: ${uuid}`);
  },

  closemedium(registry, args) {
    const rest = ['disk', 'dvd', 'floppy'].includes(args[0]) ? args.slice(1) : args;
    const { options, positional } = parseArgs(rest, { '--delete': 'flag' });
    const ref = positional[0] ?? '';
    const entry = findMedium(registry, ref);
    if (!entry) {
      fail(
        `Could not find file for the medium '${path.resolve(ref)}' (VERR_FILE_NOT_FOUND)`,
        'FILE_ERROR',
        'MediumWrap',
        'IMedium',
        '"OpenMedium(...)" at line 201 of file VBoxManageDisk.cpp',
      );
    }
    const users = attachedTo(registry, entry);
    if (users.length > 0) {
      fail(
        `Medium '${entry.location}' cannot be closed because it is still attached to ${users.length} virtual machines`,
        'OBJECT_IN_USE',
        'MediumWrap',
        'IMedium',
        '"Close()" at line 1806 of file VBoxManageDisk.cpp',
      );
    }
    registry.media = registry.media.filter((m) => m !== entry);
    if (options['--delete']) {
      fs.rmSync(entry.location, { force: true });
      progress();
    }
  },

  startvm(registry, args) {
    const { options, positional } = parseArgs(args, { '--type': 'string' });
    const vm = findVm(registry, positional[0] ?? '');
    if (locked(vm)) {
      fail(
        `The machine '${vm.name}' is already locked by a session (or being locked or unlocked)`,
        'INVALID_OBJECT_STATE',
        'MachineWrap',
        'IMachine',
        '"LaunchVMProcess(a->session, sessionType.raw(), ComSafeArrayAsInParam(aBstrEnv), progress.asOutParam())" at line 727 of file VBoxManageMisc.cpp',
      );
    }
    print(`Waiting for VM "${vm.name}" to power on...`);
    const failure =
      FAILURES[env.VBOXDOUBLE_VMX_ROOT === '1' ? 'vmx-root' : (env.VBOXDOUBLE_STARTVM_FAILURE ?? '')];
    if (failure) fail(failure.message, failure.code, failure.component, failure.iface);
    for (const attachment of Object.values(vm.attachments)) {
      if (attachment.uuid && !fs.existsSync(attachment.location)) {
        fail(
          `Could not open the medium '${attachment.location}'.\nVD: error VERR_FILE_NOT_FOUND opening image file '${attachment.location}' (VERR_FILE_NOT_FOUND)`,
          'FILE_ERROR',
          'MediumWrap',
          'IMedium',
        );
      }
    }
    if (vm.state === 'saved' && vm.stateFile) fs.rmSync(vm.stateFile, { force: true });
    vm.stateFile = null;
    vm.session = options['--type'] ?? 'gui';
    setState(vm, 'running');
    vm.serverPid = startServer(vm);
    print(`VM "${vm.name}" has been successfully started.`);
  },

  controlvm(registry, args) {
    const [ref = '', action, ...rest] = args;
    const vm = findVm(registry, ref);
    if (!running(vm)) {
      eprint(`${PREFIX}: error: Machine '${vm.name}' is not currently running`);
      throw new Exit(1);
    }
    const invalid = (call) =>
      fail(
        `Invalid machine state: ${STATE_NAMES[vm.state]}`,
        'INVALID_VM_STATE',
        'ConsoleWrap',
        'IConsole',
        `"${call}" at line 285 of file VBoxManageControlVM.cpp`,
      );
    switch (action) {
      case 'pause':
        if (vm.state !== 'running') invalid('Pause()');
        setState(vm, 'paused');
        return;
      case 'resume':
        if (vm.state !== 'paused') invalid('Resume()');
        setState(vm, 'running');
        return;
      case 'reset':
        bootGuest(vm, Date.now());
        vm.guestprops['/VirtualBox/VMInfo/ResetCounter'] = prop(
          String(Number(vm.guestprops['/VirtualBox/VMInfo/ResetCounter']?.value ?? 0) + 1),
          'TRANSIENT, RDONLYGUEST',
        );
        return;
      case 'poweroff':
        killServer(vm);
        setState(vm, 'poweroff');
        progress();
        return;
      case 'savestate': {
        killServer(vm);
        const file = path.join(
          vmFolder(vm),
          'Snapshots',
          `${new Date().toISOString().replace(/[:.]/g, '-')}.sav`,
        );
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, 'saved state\n');
        vm.stateFile = file;
        setState(vm, 'saved');
        progress();
        return;
      }
      case 'acpipowerbutton':
        if (vm.state !== 'running') invalid('PowerButton()');
        if (env.VBOXDOUBLE_ACPI !== 'ignore') {
          killServer(vm);
          setState(vm, 'poweroff');
        }
        return;
      case 'screenshotpng':
        screenshotPng(vm, rest);
        return;
      case 'cpuexecutioncap': {
        const cap = Number(rest[0]);
        if (!Number.isInteger(cap) || cap < 1 || cap > 100) {
          fail(
            `Invalid value ${rest[0]} for CPU execution cap: must be in the range [1, 100]`,
            'INVALID_ARG',
            'MachineWrap',
            'IMachine',
            '"COMSETTER(CPUExecutionCap)(n)" at line 1390 of file VBoxManageControlVM.cpp',
          );
        }
        settleGuest(vm, Date.now());
        vm.cpuexecutioncap = cap;
        return;
      }
      default:
        syntax(`Invalid parameter '${action ?? ''}'`);
    }
  },

  discardstate(registry, args) {
    const vm = findVm(registry, args[0] ?? '');
    if (vm.state !== 'saved') {
      fail(
        `Cannot discard the saved state as the machine is not in the saved state (machine state: ${STATE_NAMES[vm.state]})`,
        'INVALID_VM_STATE',
        'SessionMachine',
        'IMachine',
        '"DiscardSavedState(true)" at line 2205 of file VBoxManageMisc.cpp',
      );
    }
    if (vm.stateFile) fs.rmSync(vm.stateFile, { force: true });
    vm.stateFile = null;
    setState(vm, 'poweroff');
  },

  unregistervm(registry, args) {
    const { options, positional } = parseArgs(args, { '--delete': 'flag', '--delete-all': 'flag' });
    const vm = findVm(
      registry,
      positional[0] ?? '',
      '"FindMachine(Bstr(VMName).raw(), machine.asOutParam())" at line 228 of file VBoxManageMisc.cpp',
      { allowInaccessible: true },
    );
    if (inaccessible(vm)) {
      // Modelled, not recorded: nothing of it can be deleted, so only a plain unregister works.
      if (options['--delete'] || options['--delete-all']) limited();
      registry.vms = registry.vms.filter((v) => v !== vm);
      return;
    }
    if (locked(vm)) {
      fail(
        `Cannot unregister the machine '${vm.name}' while it is locked`,
        'INVALID_OBJECT_STATE',
        'MachineWrap',
        'IMachine',
        '"Unregister(CleanupMode_DetachAllReturnHardDisksOnly, ComSafeArrayAsOutParam(aMedia))" at line 236 of file VBoxManageMisc.cpp',
      );
    }
    registry.vms = registry.vms.filter((v) => v !== vm);
    const mine = Object.values(vm.attachments)
      .map((a) => registry.media.find((m) => m.uuid === a.uuid))
      .filter(Boolean);
    const deleting = options['--delete'] || options['--delete-all'];
    for (const medium of mine) {
      const hdd = medium.kind === 'hdd' && medium.type !== 'multiattach';
      if (hdd && !deleting) continue;
      if (attachedTo(registry, medium).length > 0) continue;
      registry.media = registry.media.filter((m) => m !== medium);
      if (hdd || options['--delete-all']) fs.rmSync(medium.location, { force: true });
    }
    if (deleting) {
      if (vm.stateFile) fs.rmSync(vm.stateFile, { force: true });
      const folder = vmFolder(vm);
      for (const file of [vm.cfgFile, `${vm.cfgFile}-prev`]) fs.rmSync(file, { force: true });
      fs.rmSync(path.join(folder, 'Logs'), { recursive: true, force: true });
      for (const dir of [path.join(folder, 'Snapshots'), folder]) {
        try {
          fs.rmdirSync(dir);
        } catch {}
      }
      progress();
    }
  },
};
