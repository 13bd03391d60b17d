// Part of the VBoxManage double (see vboxmanage-double.mjs).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bootGuest, settleGuest } from './vboxmanage-double-guest.mjs';
import { INACCESSIBLE, versionNumbers } from './vboxmanage-double-texts.mjs';

/** The double's main script, which the guest's API server is started from. */
export const SELF = fileURLToPath(new URL('./vboxmanage-double.mjs', import.meta.url));
export const env = process.env;
export const HOME = env.VBOX_USER_HOME;
export const PREFIX = process.platform === 'win32' ? 'VBoxManage.exe' : 'VBoxManage';
export const CALLEE = process.platform === 'win32' ? 'IUnknown' : 'nsISupports';
export const VERSION = env.VBOXDOUBLE_VERSION || '7.0.14r161095';
export const { major: MAJOR, minor: MINOR } = versionNumbers(VERSION);

export const CODES = {
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

export class Exit extends Error {
  constructor(code) {
    super(`exit ${code}`);
    this.code = code;
  }
}

export const out = [];
export const err = [];
export const print = (line = '') => out.push(`${line}\n`);
export const eprint = (line = '') => err.push(`${line}\n`);
export const progress = () => eprint('0%...10%...20%...30%...40%...50%...60%...70%...80%...90%...100%');

/** Prints a VirtualBox COM error block and ends the call. */
export function fail(message, code, component, iface, context, exitCode = 1) {
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

export function syntax(message) {
  eprint(`${PREFIX}: error: ${message}`);
  throw new Exit(2);
}

// ---------------------------------------------------------------- registry

export const registryFile = () => path.join(HOME, 'vboxmanage-double.json');
export const lockDir = () => path.join(HOME, 'vboxmanage-double.lock');

export function readRegistry() {
  try {
    return JSON.parse(fs.readFileSync(registryFile(), 'utf8'));
  } catch {
    return { calls: 0, fault: null, vms: [], media: [] };
  }
}

export function writeRegistry(registry) {
  const tmp = `${registryFile()}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(registry, null, 1));
  fs.renameSync(tmp, registryFile());
}

export function sleepMs(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export function lock() {
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

export function unlock() {
  fs.rmSync(lockDir(), { recursive: true, force: true });
}

// ---------------------------------------------------------------- arguments

/** Parses argv like IPRT's RTGetOpt: an option's value is the next argument, whatever it looks like. */
export function parseArgs(args, spec, aliases = {}) {
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

export const isUuid = (s) => /^\{?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}?$/i.test(s);
export const bare = (s) => s.replace(/^\{|\}$/g, '').toLowerCase();

export const inaccessible = (vm) => !fs.existsSync(vm.cfgFile);

/** Fails as VirtualBox does when a command needs the settings of an inaccessible VM. */
export function limited(context = INACCESSIBLE.lockContext) {
  fail(INACCESSIBLE.limited, 'E_ACCESSDENIED', 'MachineWrap', 'IMachine', context);
}

export function findVm(registry, ref, context, { allowInaccessible = false } = {}) {
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

export const STATE_NAMES = {
  poweroff: 'PoweredOff',
  saved: 'Saved',
  running: 'Running',
  paused: 'Paused',
  aborted: 'Aborted',
};
export const running = (vm) => vm.state === 'running' || vm.state === 'paused';
/** Running, or held by another process's session (`__double-lock`). */
export const locked = (vm) => running(vm) || Boolean(vm.heldBy);

export function lockedError(vm, file) {
  fail(
    `The machine '${vm.name}' is already locked for a session (or being unlocked)`,
    'INVALID_OBJECT_STATE',
    'MachineWrap',
    'IMachine',
    `"LockMachine(a->session, LockType_Write)" at line 531 of file ${file}`,
  );
}

export function mutable(vm, file, what) {
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

export function setState(vm, state) {
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

export function killServer(vm) {
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

export function findMedium(registry, ref) {
  if (isUuid(ref)) return registry.media.find((m) => m.uuid === bare(ref));
  const location = path.resolve(ref);
  return registry.media.find((m) => m.location === location);
}

export function attachedTo(registry, medium) {
  return registry.vms.filter((vm) => Object.values(vm.attachments).some((a) => a.uuid === medium.uuid));
}

export function vmFolder(vm) {
  return path.dirname(vm.cfgFile);
}
