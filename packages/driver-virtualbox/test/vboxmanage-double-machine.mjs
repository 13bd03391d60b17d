// Part of the VBoxManage double (see vboxmanage-double.mjs).
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  attachedTo,
  bare,
  env,
  fail,
  findMedium,
  findVm,
  HOME,
  isUuid,
  locked,
  lockedError,
  MAJOR,
  mutable,
  parseArgs,
  print,
  STATE_NAMES,
  setState,
  syntax,
  vmFolder,
} from './vboxmanage-double-base.mjs';
import { modifyVrde, setExtraData, VRDE_OPTIONS } from './vboxmanage-double-display.mjs';
import { folderNotWritable, modifyVmAliases } from './vboxmanage-double-texts.mjs';

/** Commands that make and change machines: `createvm`, `modifyvm`, storage, and the lock switches. */
export const machineCommands = {
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
      ...VRDE_OPTIONS,
      // Accepted and ignored: what the original plugin set (for the bench's replay).
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
    modifyVrde(vm, options);
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

  setextradata(registry, args) {
    const [ref = '', ...rest] = args;
    setExtraData(findVm(registry, ref), rest);
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
};
