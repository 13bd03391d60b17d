#!/usr/bin/env node
// A stateful test double of VirtualBox's VBoxManage, for the driver's tests and bench.
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
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  FAILURES,
  folderNotWritable,
  INACCESSIBLE,
  modifyVmAliases,
  VBOXSVC_DOWN,
  versionNumbers,
} from './vboxmanage-double-texts.mjs';

const SELF = fileURLToPath(import.meta.url);
const env = process.env;
const HOME = env.VBOX_USER_HOME;
const PREFIX = process.platform === 'win32' ? 'VBoxManage.exe' : 'VBoxManage';
const CALLEE = process.platform === 'win32' ? 'IUnknown' : 'nsISupports';
const VERSION = env.VBOXDOUBLE_VERSION || '7.0.14r161095';
const { major: MAJOR, minor: MINOR } = versionNumbers(VERSION);

const CODES = {
  NOT_FOUND: ['VBOX_E_OBJECT_NOT_FOUND', '0x80bb0001'],
  INVALID_VM_STATE: ['VBOX_E_INVALID_VM_STATE', '0x80bb0002'],
  FILE_ERROR: ['VBOX_E_FILE_ERROR', '0x80bb0004'],
  INVALID_OBJECT_STATE: ['VBOX_E_INVALID_OBJECT_STATE', '0x80bb0007'],
  OBJECT_IN_USE: ['VBOX_E_OBJECT_IN_USE', '0x80bb000c'],
  FAILURE: ['NS_ERROR_FAILURE', '0x80004005'],
  E_FAIL: ['E_FAIL', '0x80004005'],
  IPRT_ERROR: ['VBOX_E_IPRT_ERROR', '0x80bb0005'],
  E_ACCESSDENIED: ['E_ACCESSDENIED', '0x80070005'],
  INVALID_ARG: ['NS_ERROR_INVALID_ARG', '0x80070057'],
};

class Exit extends Error {
  constructor(code) {
    super(`exit ${code}`);
    this.code = code;
  }
}

const out = [];
const err = [];
const print = (line = '') => out.push(`${line}\n`);
const eprint = (line = '') => err.push(`${line}\n`);
const progress = () => eprint('0%...10%...20%...30%...40%...50%...60%...70%...80%...90%...100%');

/** Prints a VirtualBox COM error block and ends the call. */
function fail(message, code, component, iface, context, exitCode = 1) {
  for (const line of message.split('\n')) eprint(`${PREFIX}: error: ${line}`);
  if (code) {
    const [name, hex] = CODES[code];
    eprint(
      `${PREFIX}: error: Details: code ${name} (${hex}), component ${component}, interface ${iface}, callee ${CALLEE}`,
    );
  }
  if (context) eprint(`${PREFIX}: error: Context: ${context}`);
  throw new Exit(exitCode);
}

function syntax(message) {
  eprint(`${PREFIX}: error: ${message}`);
  throw new Exit(2);
}

// ---------------------------------------------------------------- registry

const registryFile = () => path.join(HOME, 'vboxmanage-double.json');
const lockDir = () => path.join(HOME, 'vboxmanage-double.lock');

function readRegistry() {
  try {
    return JSON.parse(fs.readFileSync(registryFile(), 'utf8'));
  } catch {
    return { calls: 0, fault: null, vms: [], media: [] };
  }
}

function writeRegistry(registry) {
  const tmp = `${registryFile()}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(registry, null, 1));
  fs.renameSync(tmp, registryFile());
}

function sleepMs(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function lock() {
  for (let attempt = 0; ; attempt++) {
    try {
      fs.mkdirSync(lockDir());
      return;
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
      try {
        if (Date.now() - fs.statSync(lockDir()).mtimeMs > 15_000)
          fs.rmSync(lockDir(), { recursive: true, force: true });
      } catch {}
      sleepMs(Math.min(50, 2 + attempt));
    }
  }
}

function unlock() {
  fs.rmSync(lockDir(), { recursive: true, force: true });
}

// ---------------------------------------------------------------- arguments

/** Parses argv like IPRT's RTGetOpt: an option's value is the next argument, whatever it looks like. */
function parseArgs(args, spec, aliases = {}) {
  const options = {};
  const positional = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg.startsWith('-') && arg.length > 1 && !/^-\d/.test(arg)) {
      let [name, inline] = arg.includes('=')
        ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
        : [arg, undefined];
      if (!name.startsWith('--')) name = `-${name}`;
      name = aliases[name] ?? name;
      const kind = spec[name];
      if (!kind) syntax(`Unknown option: ${arg}`);
      if (kind === 'flag') options[name] = true;
      else {
        const value = inline ?? args[++i];
        if (value === undefined) syntax(`Missing value for option ${name}`);
        if (kind === 'list') {
          options[name] ??= [];
          options[name].push(value);
        } else options[name] = value;
      }
    } else positional.push(arg);
  }
  return { options, positional };
}

// ---------------------------------------------------------------- lookups

const isUuid = (s) => /^\{?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}?$/i.test(s);
const bare = (s) => s.replace(/^\{|\}$/g, '').toLowerCase();

const inaccessible = (vm) => !fs.existsSync(vm.cfgFile);

/** Fails as VirtualBox does when a command needs the settings of an inaccessible VM. */
function limited(context = INACCESSIBLE.lockContext) {
  fail(INACCESSIBLE.limited, 'E_ACCESSDENIED', 'MachineWrap', 'IMachine', context);
}

function findVm(registry, ref, context, { allowInaccessible = false } = {}) {
  const vm = isUuid(ref)
    ? registry.vms.find((v) => v.uuid === bare(ref))
    : registry.vms.find((v) => v.name === ref && !inaccessible(v));
  if (vm && inaccessible(vm) && !allowInaccessible) limited();
  if (vm) return vm;
  fail(
    isUuid(ref)
      ? `Could not find a registered machine with UUID {${bare(ref)}}`
      : `Could not find a registered machine named '${ref}'`,
    'NOT_FOUND',
    'VirtualBoxWrap',
    'IVirtualBox',
    context ??
      '"FindMachine(Bstr(pszVM).raw(), machine.asOutParam())" at line 595 of file VBoxManageMisc.cpp',
  );
}

const STATE_NAMES = {
  poweroff: 'PoweredOff',
  saved: 'Saved',
  running: 'Running',
  paused: 'Paused',
  aborted: 'Aborted',
};
const running = (vm) => vm.state === 'running' || vm.state === 'paused';
/** Running, or held by another process's session (`__double-lock`). */
const locked = (vm) => running(vm) || Boolean(vm.heldBy);

function lockedError(vm, file) {
  fail(
    `The machine '${vm.name}' is already locked for a session (or being unlocked)`,
    'INVALID_OBJECT_STATE',
    'MachineWrap',
    'IMachine',
    `"LockMachine(a->session, LockType_Write)" at line 531 of file ${file}`,
  );
}

function mutable(vm, file, what) {
  if (locked(vm)) lockedError(vm, file);
  if (vm.state === 'saved') {
    fail(
      'The machine is not mutable (state is Saved)',
      'INVALID_VM_STATE',
      'SessionMachine',
      'IMachine',
      `"${what}" at line 1480 of file ${file}`,
    );
  }
}

function setState(vm, state) {
  const now = Date.now();
  settleGuest(vm, now);
  if (state === 'running') {
    // Resumed or restored: the same boot runs on. Otherwise a fresh boot.
    if (vm.guest && (vm.state === 'paused' || vm.state === 'saved')) vm.guest.since = now;
    else bootGuest(vm, now);
  } else if (state === 'paused' || state === 'saved') {
    if (vm.guest) vm.guest.since = null;
  } else {
    vm.guest = null;
  }
  vm.state = state;
  vm.stateChangeTime = new Date().toISOString().replace('Z', '000000').slice(0, 29);
}

function killServer(vm) {
  if (vm.serverPid) {
    try {
      process.kill(vm.serverPid, 'SIGKILL');
      // Wait until it is gone, so a restart right after (restore, start) finds its port free.
      for (const deadline = Date.now() + 5000; Date.now() < deadline; sleepMs(10))
        process.kill(vm.serverPid, 0);
    } catch {}
  }
  vm.serverPid = null;
}

function findMedium(registry, ref) {
  if (isUuid(ref)) return registry.media.find((m) => m.uuid === bare(ref));
  const location = path.resolve(ref);
  return registry.media.find((m) => m.location === location);
}

function attachedTo(registry, medium) {
  return registry.vms.filter((vm) => Object.values(vm.attachments).some((a) => a.uuid === medium.uuid));
}

function vmFolder(vm) {
  return path.dirname(vm.cfgFile);
}

// ---------------------------------------------------------------- commands

const commands = {
  createhd(registry, args) {
    commands.createmedium(registry, args);
  },

  list(registry, args) {
    const what = args.find((a) => !a.startsWith('-'));
    const long = args.includes('--long') || args.includes('-l');
    if (what === 'vms' && long) listLong(registry);
    else if (what === 'vms')
      for (const vm of registry.vms) print(`"${inaccessible(vm) ? '<inaccessible>' : vm.name}" {${vm.uuid}}`);
    else if (what === 'runningvms')
      for (const vm of registry.vms.filter(running)) print(`"${vm.name}" {${vm.uuid}}`);
    else if (what === 'hdds') {
      for (const m of registry.media.filter((x) => x.kind === 'hdd')) {
        const users = attachedTo(registry, m);
        print(`UUID:           ${m.uuid}`);
        print(`Parent UUID:    ${m.parent ?? 'base'}`);
        print(`State:          ${users.some(locked) ? 'locked write' : 'created'}`);
        print(
          `Type:           ${m.type === 'multiattach' ? 'multiattach' : 'normal'} (${m.parent ? 'differencing' : 'base'})`,
        );
        print(`Location:       ${m.location}`);
        print(`Storage format: ${m.format}`);
        print(`Capacity:       ${m.sizeMiB} MBytes`);
        print('Encryption:     disabled');
        print();
      }
    } else if (what === 'dvds') {
      for (const m of registry.media.filter((x) => x.kind === 'dvd')) {
        print(`UUID:           ${m.uuid}`);
        print('State:          created');
        print(`Location:       ${m.location}`);
        print(`Storage format: RAW`);
        print(`Capacity:       ${m.sizeMiB} MBytes`);
        print('Encryption:     disabled');
        print();
      }
    } else if (what === 'hostonlyifs') {
      for (const line of [
        'Name:            vboxnet0',
        'GUID:            786f6276-656e-4074-8000-0a0027000000',
        'DHCP:            Disabled',
        'IPAddress:       192.168.56.1',
        'NetworkMask:     255.255.255.0',
        'IPV6Address:     ',
        'IPV6NetworkMaskPrefixLength: 0',
        'HardwareAddress: 0a:00:27:00:00:00',
        'MediumType:      Ethernet',
        'Wireless:        No',
        'Status:          Up',
        'VBoxNetworkName: HostInterfaceNetworking-vboxnet0',
        '',
      ])
        print(line);
    } else if (what === 'dhcpservers') {
      for (const line of [
        'NetworkName:    HostInterfaceNetworking-vboxnet0',
        'Dhcpd IP:       192.168.56.100',
        'LowerIPAddress: 192.168.56.101',
        'UpperIPAddress: 192.168.56.254',
        'NetworkMask:    255.255.255.0',
        'Enabled:        Yes',
        '',
      ])
        print(line);
    } else syntax(`Invalid parameter '${what ?? ''}'`);
  },

  '__double-lock'(registry, args) {
    const vm = findVm(registry, args[0] ?? '', undefined, { allowInaccessible: true });
    vm.heldBy = args[1] ?? 'GUI/Qt';
  },

  '__double-unlock'(registry, args) {
    const vm = findVm(registry, args[0] ?? '', undefined, { allowInaccessible: true });
    vm.heldBy = null;
  },

  createvm(registry, args) {
    const { options } = parseArgs(args, {
      '--name': 'string',
      '--register': 'flag',
      '--basefolder': 'string',
      '--groups': 'string',
      '--ostype': 'string',
      '--uuid': 'string',
      '--default': 'flag',
    });
    const name = options['--name'];
    if (!name) syntax('Parameter --name is required');
    const groups = (options['--groups'] ?? '/').split(',');
    for (const group of groups) {
      if (!group.startsWith('/') || (group.length > 1 && group.endsWith('/'))) {
        fail(
          `Invalid machine group '${group}'`,
          'INVALID_ARG',
          'VirtualBoxWrap',
          'IVirtualBox',
          '"CreateMachine(...)" at line 275 of file VBoxManageMisc.cpp',
        );
      }
    }
    const base = path.resolve(options['--basefolder'] ?? path.join(HOME, 'VirtualBox VMs'));
    const safe = name.replace(/[/\\:*?"<>|]/g, '_');
    const folder = path.join(base, ...(groups[0] === '/' ? [] : groups[0].split('/').filter(Boolean)), safe);
    const cfgFile = path.join(folder, `${safe}.vbox`);
    if (env.VBOXDOUBLE_FOLDER === 'readonly') {
      const f = folderNotWritable(folder);
      fail(f.message, f.code, f.component, f.iface);
    }
    if (fs.existsSync(cfgFile) || registry.vms.some((v) => v.cfgFile === cfgFile)) {
      fail(
        `Machine settings file '${cfgFile}' already exists`,
        'FILE_ERROR',
        'VirtualBoxWrap',
        'IVirtualBox',
        '"CreateMachine(bstrSettingsFile.raw(), Bstr(pszName).raw(), ComSafeArrayAsInParam(groups), Bstr(pszOsTypeId).raw(), createFlags.raw(), machine.asOutParam())" at line 355 of file VBoxManageMisc.cpp',
      );
    }
    const uuid = options['--uuid'] ? bare(options['--uuid']) : randomUUID();
    fs.mkdirSync(folder, { recursive: true });
    fs.writeFileSync(
      cfgFile,
      `<?xml version="1.0"?>\n<VirtualBox><Machine uuid="{${uuid}}"/></VirtualBox>\n`,
    );
    const vm = {
      uuid,
      name,
      groups,
      ostype: options['--ostype'] ?? 'Other',
      cfgFile,
      registered: Boolean(options['--register']),
      cpus: 1,
      memory: 128,
      vram: 8,
      cpuexecutioncap: 100,
      acpi: 'on',
      ioapic: 'on',
      boot: ['floppy', 'dvd', 'disk', 'none'],
      nic1: 'nat',
      natpf: [],
      description: '',
      controllers: [],
      attachments: {},
      guestprops: {},
      state: 'poweroff',
      stateChangeTime: '',
      stateFile: null,
      serverPid: null,
      macaddress1: randomUUID().replace(/-/g, '').slice(0, 12).toUpperCase().replace(/^../, '08'),
    };
    setState(vm, 'poweroff');
    if (vm.registered) registry.vms.push(vm);
    print(`Virtual machine '${name}' is created${vm.registered ? ' and registered' : ''}.`);
    print(`UUID: ${uuid}`);
    print(`Settings file: '${cfgFile}'`);
  },

  modifyvm(registry, args) {
    const spec = {
      '--cpus': 'string',
      '--memory': 'string',
      '--cpuexecutioncap': 'string',
      '--acpi': 'string',
      '--ioapic': 'string',
      '--vram': 'string',
      '--nic1': 'string',
      '--natpf1': 'list',
      '--boot1': 'string',
      '--boot2': 'string',
      '--boot3': 'string',
      '--boot4': 'string',
      '--description': 'string',
      '--groups': 'string',
      '--ostype': 'string',
      // Accepted and ignored: what the original plugin set (for the bench's replay).
      '--vrde': 'string',
      '--vrdeaddress': 'string',
      '--vrdeauthtype': 'string',
      '--vrdeport': 'string',
      '--natdnshostresolver1': 'string',
      '--nic2': 'string',
      '--hostonlyadapter2': 'string',
    };
    const { options, positional } = parseArgs(args, spec, modifyVmAliases(MAJOR));
    if (positional.length !== 1) syntax('Incorrect number of parameters');
    const vm = findVm(registry, positional[0]);
    const onlyDescription = Object.keys(options).every((k) => k === '--description');
    if (!(vm.state === 'saved' && onlyDescription))
      mutable(vm, 'VBoxManageModifyVM.cpp', 'COMSETTER(CPUCount)(ValueUnion.u32)');
    const number = (name, min, max) => {
      const value = Number(options[name]);
      if (!Number.isInteger(value)) syntax(`Invalid value '${options[name]}' for ${name}`);
      if (value < min || value > max) {
        fail(
          `Invalid value ${value} for ${name}: must be in the range [${min}, ${max}]`,
          'INVALID_ARG',
          'MachineWrap',
          'IMachine',
          `"COMSETTER(${name.slice(2)})(ValueUnion.u32)" at line 600 of file VBoxManageModifyVM.cpp`,
        );
      }
      return value;
    };
    if (options['--cpus'] !== undefined) vm.cpus = number('--cpus', 1, 64);
    if (options['--memory'] !== undefined) vm.memory = number('--memory', 4, 2097152);
    if (options['--cpuexecutioncap'] !== undefined) vm.cpuexecutioncap = number('--cpuexecutioncap', 1, 100);
    if (options['--vram'] !== undefined) vm.vram = number('--vram', 0, 256);
    for (const key of ['--acpi', '--ioapic']) if (options[key] !== undefined) vm[key.slice(2)] = options[key];
    if (options['--nic1'] !== undefined) vm.nic1 = options['--nic1'];
    for (let i = 1; i <= 4; i++)
      if (options[`--boot${i}`] !== undefined) vm.boot[i - 1] = options[`--boot${i}`];
    if (options['--description'] !== undefined) vm.description = options['--description'];
    if (options['--groups'] !== undefined) vm.groups = options['--groups'].split(',');
    if (options['--ostype'] !== undefined) vm.ostype = options['--ostype'];
    for (const rule of options['--natpf1'] ?? []) {
      if (rule.startsWith('delete')) {
        const name = rule.split(',')[1] ?? positional[1];
        vm.natpf = vm.natpf.filter((r) => r.name !== name);
        continue;
      }
      const parts = rule.split(',');
      if (
        parts.length !== 6 ||
        !/^(tcp|udp)$/.test(parts[1]) ||
        !/^\d+$/.test(parts[3]) ||
        !/^\d+$/.test(parts[5])
      ) {
        syntax(`Invalid NAT rule '${rule}'`);
      }
      if (vm.natpf.some((r) => r.name === parts[0])) {
        fail(
          'A NAT rule of this name already exists',
          'INVALID_ARG',
          'NATEngineWrap',
          'INATEngine',
          '"AddRedirect(...)" at line 1830 of file VBoxManageModifyVM.cpp',
        );
      }
      vm.natpf.push({
        name: parts[0],
        proto: parts[1],
        hostip: parts[2],
        hostport: Number(parts[3]),
        guestip: parts[4],
        guestport: Number(parts[5]),
      });
    }
  },

  storagectl(registry, args) {
    const { options, positional } = parseArgs(args, {
      '--name': 'string',
      '--add': 'string',
      '--controller': 'string',
      '--portcount': 'string',
      '--bootable': 'string',
      '--remove': 'flag',
    });
    const vm = findVm(registry, positional[0] ?? '');
    mutable(vm, 'VBoxManageStorageController.cpp', 'AddStorageController(...)');
    const name = options['--name'];
    if (!name) syntax('Storage controller name not specified');
    if (options['--remove']) {
      vm.controllers = vm.controllers.filter((c) => c.name !== name);
      return;
    }
    if (vm.controllers.some((c) => c.name === name)) {
      fail(
        `Storage controller named '${name}' already exists`,
        'OBJECT_IN_USE',
        'SessionMachine',
        'IMachine',
        '"AddStorageController(...)" at line 1127 of file VBoxManageStorageController.cpp',
      );
    }
    vm.controllers.push({
      name,
      bus: options['--add'] ?? 'sata',
      type: options['--controller'] ?? 'IntelAhci',
      ports: Number(options['--portcount'] ?? (options['--add'] === 'ide' ? 2 : 30)),
      bootable: options['--bootable'] ?? 'on',
    });
  },

  storageattach(registry, args) {
    const { options, positional } = parseArgs(args, {
      '--storagectl': 'string',
      '--port': 'string',
      '--device': 'string',
      '--type': 'string',
      '--medium': 'string',
      '--mtype': 'string',
      '--setuuid': 'string',
    });
    const vm = findVm(registry, positional[0] ?? '');
    const controller = vm.controllers.find((c) => c.name === options['--storagectl']);
    if (!controller) {
      fail(
        `Could not find a controller named '${options['--storagectl']}'`,
        'NOT_FOUND',
        'SessionMachine',
        'IMachine',
        '"GetStorageControllerByName(...)" at line 442 of file VBoxManageStorageController.cpp',
      );
    }
    const port = Number(options['--port'] ?? 0);
    const device = Number(options['--device'] ?? 0);
    if (!(port >= 0 && port < controller.ports)) {
      fail(
        `Invalid port number ${port}, must be between 0 and ${controller.ports - 1}`,
        'INVALID_ARG',
        'SessionMachine',
        'IMachine',
        '"AttachDevice(...)" at line 1020 of file VBoxManageStorageController.cpp',
      );
    }
    const slot = `${controller.name}-${port}-${device}`;
    const type = options['--type'] ?? vm.attachments[slot]?.type ?? 'dvddrive';
    if (vm.heldBy) lockedError(vm, 'VBoxManageStorageController.cpp');
    if (vm.state === 'saved' || (locked(vm) && type !== 'dvddrive')) {
      fail(
        `The machine is not mutable (state is ${STATE_NAMES[vm.state]})`,
        'INVALID_VM_STATE',
        'SessionMachine',
        'IMachine',
        '"AttachDevice(...)" at line 1020 of file VBoxManageStorageController.cpp',
      );
    }
    const medium = options['--medium'];
    if (medium === undefined) syntax('Parameter --medium is required');
    if (medium === 'none' || medium === 'emptydrive') {
      if (medium === 'none') delete vm.attachments[slot];
      else vm.attachments[slot] = { type, uuid: null, location: 'emptydrive' };
      return;
    }
    let entry = findMedium(registry, medium);
    if (!entry) {
      const location = path.resolve(medium);
      if (isUuid(medium) || !fs.existsSync(location)) {
        fail(
          `Could not find file for the medium '${location}' (VERR_FILE_NOT_FOUND)`,
          'FILE_ERROR',
          'MediumWrap',
          'IMedium',
          '"OpenMedium(Bstr(pszFilenameOrUuid).raw(), enmDevType, enmAccessMode, fForceNewUuidOnOpen, pMedium.asOutParam())" at line 201 of file VBoxManageDisk.cpp',
        );
      }
      entry = {
        uuid: randomUUID(),
        kind: type === 'hdd' ? 'hdd' : 'dvd',
        location,
        format: type === 'hdd' ? path.extname(location).slice(1).toUpperCase() || 'VDI' : 'RAW',
        sizeMiB: Math.max(1, Math.ceil(fs.statSync(location).size / 1048576)),
        parent: null,
        type: 'normal',
      };
      registry.media.push(entry);
    }
    if (type === 'hdd' && options['--mtype'] === 'multiattach') {
      entry.type = 'multiattach';
      const uuid = randomUUID();
      const location = path.join(vmFolder(vm), 'Snapshots', `{${uuid}}.vdi`);
      fs.mkdirSync(path.dirname(location), { recursive: true });
      fs.writeFileSync(location, '<<< Oracle VM VirtualBox Disk Image >>>\n');
      const child = {
        uuid,
        kind: 'hdd',
        location,
        format: 'VDI',
        sizeMiB: entry.sizeMiB,
        parent: entry.uuid,
        type: 'normal',
      };
      registry.media.push(child);
      entry = child;
    } else if (type === 'hdd') {
      const users = attachedTo(registry, entry).filter((v) => v.uuid !== vm.uuid);
      if (users.length > 0) {
        fail(
          `Medium '${entry.location}' is already attached to the virtual machine '${users[0].name}'`,
          'OBJECT_IN_USE',
          'SessionMachine',
          'IMachine',
          '"AttachDevice(...)" at line 1020 of file VBoxManageStorageController.cpp',
        );
      }
    }
    vm.attachments[slot] = { type, uuid: entry.uuid, location: entry.location };
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

  showvminfo(registry, args) {
    const { options, positional } = parseArgs(args, {
      '--machinereadable': 'flag',
      '--details': 'flag',
      '--log': 'string',
    });
    const vm = findVm(
      registry,
      positional[0] ?? '',
      '"FindMachine(Bstr(VMNameOrUuid).raw(), machine.asOutParam())" at line 3189 of file VBoxManageInfo.cpp',
      { allowInaccessible: true },
    );
    if (inaccessible(vm)) {
      // 7.2 locks the machine before printing (recorded); older versions print the short block.
      if (MAJOR > 7 || (MAJOR === 7 && MINOR >= 2)) limited();
      if (options['--machinereadable']) {
        print('name="<inaccessible>"');
        print(`UUID="${vm.uuid}"`);
      } else inaccessibleBlock(vm);
      return;
    }
    if (!options['--machinereadable']) {
      print(`Name:                        ${vm.name}`);
      print(`UUID:                        ${vm.uuid}`);
      print(
        `State:                       ${STATE_NAMES[vm.state].replace(/([a-z])([A-Z])/, '$1 $2').toLowerCase()} (since ${vm.stateChangeTime})`,
      );
      return;
    }
    showMachineReadable(vm);
  },

  guestproperty(registry, args) {
    const [verb, ref = '', name, ...rest] = args;
    const vm = findVm(registry, ref);
    switch (verb) {
      case 'get': {
        const entry = vm.guestprops[name ?? ''];
        if (entry) print(`Value: ${entry.value}`);
        else print('No value set!');
        return;
      }
      case 'set': {
        // Like VBoxManageGuestProp.cpp: the syntax is told by the argument count, so a value
        // that looks like an option is still the value.
        if (!name || rest.length === 2 || rest.length > 3) syntax('Incorrect parameters');
        if (rest.length === 3 && rest[1] !== '--flags' && rest[1] !== '-flags')
          syntax('Incorrect parameters');
        const value = rest[0];
        if (value === undefined || value === '') delete vm.guestprops[name];
        else vm.guestprops[name] = prop(value, rest[2] ?? '');
        return;
      }
      case 'delete':
      case 'unset':
        delete vm.guestprops[name ?? ''];
        return;
      case 'enumerate':
        enumerate(vm, [name, ...rest].filter(Boolean).includes('--old-format') || MAJOR < 7);
        return;
      default:
        syntax(`Invalid parameter '${verb ?? ''}'`);
    }
  },
};

/** `showVMInfo(VMINFO_STANDARD)` of an inaccessible VM (VBoxManageInfo.cpp). */
function inaccessibleBlock(vm) {
  print('Name:            <inaccessible!>');
  print(`UUID:            ${vm.uuid}`);
  print(`Config file:     ${vm.cfgFile}`);
  print('Access error details:');
  eprint(`${PREFIX}: error: ${INACCESSIBLE.accessError(vm.cfgFile)}`);
  eprint(
    `${PREFIX}: error: Details: code NS_ERROR_FAILURE (0x80004005), component MachineWrap, interface IMachine, callee ${CALLEE}`,
  );
  print();
}

/** `list --long vms`: the standard block of each VM (a few of its lines), inaccessible ones too. */
function listLong(registry) {
  for (const vm of registry.vms) {
    if (inaccessible(vm)) {
      inaccessibleBlock(vm);
      continue;
    }
    print(`Name:                        ${vm.name}`);
    print(`Groups:                      ${vm.groups.join(',')}`);
    print(`UUID:                        ${vm.uuid}`);
    print(`Config file:                 ${vm.cfgFile}`);
    print();
  }
}

function prop(value, flags) {
  return { value, flags, time: Date.now() };
}

function enumerate(vm, oldFormat) {
  const entries = Object.entries(vm.guestprops);
  if (oldFormat) {
    for (const [name, p] of entries) {
      print(`Name: ${name}, value: ${p.value}, timestamp: ${BigInt(p.time) * 1000000n}, flags: ${p.flags}`);
    }
    return;
  }
  entries.sort(([a], [b]) => (a < b ? -1 : 1));
  const nameWidth = Math.min(48, Math.max(0, ...entries.map(([n]) => n.length)));
  const valueWidth = Math.min(28, Math.max(0, ...entries.map(([, p]) => p.value.length)));
  for (const [name, p] of entries) {
    const pad = ' '.repeat(Math.max(0, valueWidth - p.value.length) + 1);
    print(
      `${name.padEnd(nameWidth)} = '${p.value}'${pad}@ ${new Date(p.time).toISOString()}${p.flags ? ` ${p.flags}` : ''}`,
    );
  }
}

/** A `key="value"` line as VBoxManage writes it: 6.1+ escape `"` and `\`; newlines stay raw. */
function mr(key, value) {
  const k = /^[A-Za-z0-9_]+$/.test(key) || /^Forwarding\(\d+\)$/.test(key) ? key : `"${key}"`;
  if (typeof value === 'number') return print(`${k}=${value}`);
  const v = MAJOR >= 6 ? String(value).replace(/(["\\])/g, '\\$1') : String(value);
  print(`${k}="${v}"`);
}

function showMachineReadable(vm) {
  const folder = vmFolder(vm);
  mr('name', vm.name);
  if (MAJOR >= 7) print('Encryption:     disabled');
  mr('groups', vm.groups.join(','));
  mr('ostype', vm.ostype === 'Linux26_64' ? 'Linux 2.6 / 3.x / 4.x / 5.x (64-bit)' : vm.ostype);
  mr('UUID', vm.uuid);
  mr('CfgFile', vm.cfgFile);
  mr('SnapFldr', path.join(folder, 'Snapshots'));
  mr('LogFldr', path.join(folder, 'Logs'));
  mr('hardwareuuid', vm.uuid);
  mr('memory', vm.memory);
  mr('pagefusion', 'off');
  mr('vram', vm.vram);
  mr('cpuexecutioncap', vm.cpuexecutioncap);
  mr('hpet', 'off');
  mr('cpu-profile', 'host');
  mr('chipset', 'piix3');
  mr('firmware', 'BIOS');
  mr('cpus', vm.cpus);
  mr('pae', 'on');
  mr('longmode', 'on');
  mr('triplefaultreset', 'off');
  mr('apic', 'on');
  mr('x2apic', 'on');
  mr('nested-hw-virt', 'off');
  mr('cpuid-portability-level', 0);
  mr('bootmenu', 'messageandmenu');
  vm.boot.forEach((b, i) => {
    mr(`boot${i + 1}`, b);
  });
  mr('acpi', vm.acpi);
  mr('ioapic', vm.ioapic);
  mr('biosapic', 'apic');
  mr('biossystemtimeoffset', 0);
  mr('rtcuseutc', 'off');
  mr('hwvirtex', 'on');
  mr('nestedpaging', 'on');
  mr('largepages', 'off');
  mr('vtxvpid', 'on');
  mr('vtxux', 'on');
  mr('paravirtprovider', 'default');
  mr('effparavirtprovider', 'kvm');
  // VBOXDOUBLE_VMSTATE stands for a value this driver does not know (a future VirtualBox's).
  mr('VMState', env.VBOXDOUBLE_VMSTATE || vm.state);
  mr('VMStateChangeTime', vm.stateChangeTime);
  if (vm.stateFile) mr('VMStateFile', vm.stateFile);
  mr('graphicscontroller', 'vboxvga');
  mr('monitorcount', 1);
  mr('accelerate3d', 'off');
  mr('teleporterenabled', 'off');
  mr('teleporterport', 0);
  mr('autostart-enabled', 'off');
  mr('autostart-delay', 0);
  mr('defaultfrontend', '');
  vm.controllers.forEach((c, i) => {
    mr(`storagecontrollername${i}`, c.name);
    mr(`storagecontrollertype${i}`, c.type);
    mr(`storagecontrollerinstance${i}`, '0');
    mr(`storagecontrollermaxportcount${i}`, '30');
    mr(`storagecontrollerportcount${i}`, String(c.ports));
    mr(`storagecontrollerbootable${i}`, c.bootable);
  });
  for (const c of vm.controllers) {
    for (let port = 0; port < c.ports; port++) {
      const slot = `${c.name}-${port}-0`;
      const a = vm.attachments[slot];
      mr(slot, a ? a.location : 'none');
      if (a?.uuid) mr(`${c.name}-ImageUUID-${port}-0`, a.uuid);
      if (a?.type === 'dvddrive') mr(`${c.name}-IsEjected-${port}-0`, 'off');
    }
  }
  mr('natnet1', 'nat');
  mr('macaddress1', vm.macaddress1);
  mr('cableconnected1', 'on');
  mr('nic1', vm.nic1);
  mr('nictype1', '82540EM');
  mr('nicspeed1', '0');
  mr('mtu', '0');
  mr('sockSnd', '64');
  mr('sockRcv', '64');
  mr('tcpWndSnd', '64');
  mr('tcpWndRcv', '64');
  vm.natpf.forEach((r, i) => {
    mr(`Forwarding(${i})`, `${r.name},${r.proto},${r.hostip},${r.hostport},${r.guestip},${r.guestport}`);
  });
  for (let i = 2; i <= 8; i++) mr(`nic${i}`, 'none');
  mr('hidpointing', 'ps2mouse');
  mr('hidkeyboard', 'ps2kbd');
  mr('uart1', 'off');
  mr('audio', 'none');
  mr('clipboard', 'disabled');
  if (vm.heldBy) mr('SessionName', vm.heldBy);
  else if (running(vm)) mr('SessionName', vm.session ?? 'headless');
  mr('vrde', 'off');
  mr('usb', 'off');
  if (vm.description) mr('description', vm.description);
  mr('GuestMemoryBalloon', 0);
}

// ---------------------------------------------------------------- the simulated guest
// Its clock stands still while the VM is paused or saved; its busy loop's work grows with the
// execution cap. It reads its user data from the context ISO attached, as the test guest does.

/** Work units per ms of the guest's busy loop at a cap of 100 %. */
const SPIN_PER_MS = 1000;

function bootGuest(vm, now) {
  vm.guest = { bootId: randomUUID(), uptimeMs: 0, since: now, spin: 0, spinning: false };
}

/** Accounts the time the guest ran since it was last settled. */
function settleGuest(vm, now) {
  const guest = vm.guest;
  if (!guest || guest.since === null) return;
  const ran = Math.max(0, now - guest.since);
  guest.uptimeMs += ran;
  if (guest.spinning) guest.spin += Math.floor((ran * SPIN_PER_MS * (vm.cpuexecutioncap ?? 100)) / 100);
  guest.since = now;
}

/** The file `CONTEXT.SH` or `USER-DATA` of an attached ISO 9660 image, as the guest would find it. */
function readContext(vm) {
  for (const attachment of Object.values(vm.attachments)) {
    let image;
    try {
      image = fs.readFileSync(attachment.location);
    } catch {
      continue;
    }
    const pvd = 16 * 2048;
    if (image.length < pvd + 2048 || image.toString('latin1', pvd + 1, pvd + 6) !== 'CD001') continue;
    const root = pvd + 156;
    const extent = image.readUInt32LE(root + 2) * 2048;
    const size = image.readUInt32LE(root + 10);
    for (let at = extent; at < extent + size; ) {
      const length = image[at];
      if (!length) {
        at = (Math.floor(at / 2048) + 1) * 2048;
        continue;
      }
      const name = image
        .toString('latin1', at + 33, at + 33 + image[at + 32])
        .replace(/;1$/, '')
        .replace(/\.$/, '')
        .toUpperCase();
      const start = image.readUInt32LE(at + 2) * 2048;
      const data = image.subarray(start, start + image.readUInt32LE(at + 10)).toString('utf8');
      if (name === 'CONTEXT.SH') {
        const encoded = /^EC2_USER_DATA="(.*)"$/m.exec(data)?.[1] ?? '';
        return {
          format: 'cernvm',
          source: attachment.location,
          userData: Buffer.from(encoded, 'base64').toString('utf8'),
        };
      }
      if (name === 'USER_DATA' || name === 'USER-DATA') {
        return { format: 'cloud-init', source: attachment.location, userData: data };
      }
      at += length;
    }
  }
  return null;
}

/** The cvmweb guest API's report of a running VM (see GuestReport in @cvmweb/core). */
function guestReport(vm) {
  const guest = vm.guest;
  const now = Date.now();
  const ran = guest.since === null ? 0 : Math.max(0, now - guest.since);
  const spin = guest.spinning ? Math.floor((ran * SPIN_PER_MS * (vm.cpuexecutioncap ?? 100)) / 100) : 0;
  const context = readContext(vm);
  return {
    bootId: guest.bootId,
    uptimeMs: guest.uptimeMs + ran,
    userData: context?.userData ?? '',
    context: context && { format: context.format, source: context.source },
    spin: guest.spin + spin,
  };
}

/** Starts the guest's busy loop (under the registry's lock, as a VBoxManage call would). */
function startSpin(uuid) {
  lock();
  try {
    const registry = readRegistry();
    const vm = registry.vms.find((v) => v.uuid === uuid);
    if (vm?.guest) {
      settleGuest(vm, Date.now());
      vm.guest.spinning = true;
      writeRegistry(registry);
    }
  } finally {
    unlock();
  }
}

// ---------------------------------------------------------------- the guest's API server

/** Starts the detached API server of a running VM; returns its pid, or null when its port is taken. */
function startServer(vm) {
  const rule = vm.natpf.find((r) => r.guestport === 80 && r.proto === 'tcp');
  if (!rule) return null;
  const child = spawn(process.execPath, [SELF, '__double-serve', String(rule.hostport), vm.uuid], {
    detached: true,
    stdio: 'ignore',
    env,
  });
  // Generous: on a loaded 2-core CI machine a new Node process can take seconds to start.
  const deadline = Date.now() + 40_000;
  let ready = false;
  // Synchronous wait for the child's "ready"/"failed" line through a file it writes (the event loop is not running here).
  const marker = path.join(HOME, `vboxmanage-double.${vm.uuid}.ready`);
  while (Date.now() < deadline) {
    try {
      const text = fs.readFileSync(marker, 'utf8');
      ready = text.startsWith('ready');
      break;
    } catch {}
    sleepMs(5);
  }
  fs.rmSync(marker, { force: true });
  child.unref();
  if (!ready) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {}
    return null;
  }
  return child.pid;
}

function serve(port, uuid) {
  const marker = path.join(HOME, `vboxmanage-double.${uuid}.ready`);
  const ttl = Number(env.VBOXDOUBLE_SERVER_TTL_MS || 600_000);
  const current = () => readRegistry().vms.find((v) => v.uuid === uuid);
  const server = http.createServer((request, response) => {
    const vm = current();
    if (!vm || vm.state === 'paused') {
      // A paused VM's NAT takes the connection but nobody answers.
      request.socket.setTimeout(30_000, () => request.socket.destroy());
      return;
    }
    const route = new URL(request.url ?? '/', 'http://double').pathname;
    if (route === '/cgi-bin/cvmweb-guest' && vm.guest) {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(guestReport(vm)));
      return;
    }
    if (route === '/cgi-bin/cvmweb-spin' && vm.guest) {
      startSpin(uuid);
      response.writeHead(200, { 'content-type': 'text/plain' });
      response.end('spinning\n');
      return;
    }
    response.writeHead(200, { 'content-type': 'text/plain' });
    response.end(`CernVM (VBoxManage double) ${vm.name}\n`);
  });
  const listening = Date.now();
  server.on('error', (error) => {
    // The previous server of this port may still be exiting: try again for a while.
    if (error.code === 'EADDRINUSE' && Date.now() - listening < 10_000) {
      setTimeout(() => server.listen(port, '127.0.0.1'), 100);
      return;
    }
    fs.writeFileSync(marker, 'failed');
    process.exit(1);
  });
  server.once('listening', () => fs.writeFileSync(marker, 'ready'));
  server.listen(port, '127.0.0.1');
  const started = Date.now();
  let adopted = false;
  // Exit when the VM no longer runs under this server, the home is gone, or the TTL passed.
  setInterval(() => {
    if (!fs.existsSync(HOME) || Date.now() - started > ttl) process.exit(0);
    const vm = current();
    if (vm?.serverPid === process.pid) adopted = true;
    if (!adopted) {
      if (Date.now() - started > 45_000) process.exit(0);
      return;
    }
    if (!vm || !running(vm) || vm.serverPid !== process.pid) process.exit(0);
  }, 200);
}

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
