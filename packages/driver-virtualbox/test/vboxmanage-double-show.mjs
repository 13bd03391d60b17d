// Part of the VBoxManage double (see vboxmanage-double.mjs).
import path from 'node:path';
import {
  attachedTo,
  CALLEE,
  env,
  eprint,
  findVm,
  inaccessible,
  limited,
  locked,
  MAJOR,
  MINOR,
  PREFIX,
  parseArgs,
  print,
  running,
  STATE_NAMES,
  syntax,
  vmFolder,
} from './vboxmanage-double-base.mjs';
import { listExtPacks, showVrde } from './vboxmanage-double-display.mjs';
import { INACCESSIBLE } from './vboxmanage-double-texts.mjs';

/** `list`, `showvminfo` and `guestproperty`: what the double prints. */
export const showCommands = {
  list(registry, args) {
    const what = args.find((a) => !a.startsWith('-'));
    const long = args.includes('--long') || args.includes('-l');
    if (what === 'vms' && long) listLong(registry);
    else if (what === 'vms')
      for (const vm of registry.vms) print(`"${inaccessible(vm) ? '<inaccessible>' : vm.name}" {${vm.uuid}}`);
    else if (what === 'extpacks') listExtPacks();
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
export function inaccessibleBlock(vm) {
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
export function listLong(registry) {
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

export function prop(value, flags) {
  return { value, flags, time: Date.now() };
}

export function enumerate(vm, oldFormat) {
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
export function mr(key, value) {
  const k = /^[A-Za-z0-9_]+$/.test(key) || /^Forwarding\(\d+\)$/.test(key) ? key : `"${key}"`;
  if (typeof value === 'number') return print(`${k}=${value}`);
  const v = MAJOR >= 6 ? String(value).replace(/(["\\])/g, '\\$1') : String(value);
  print(`${k}="${v}"`);
}

export function showMachineReadable(vm) {
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
  showVrde(vm, mr);
  mr('usb', 'off');
  if (vm.description) mr('description', vm.description);
  mr('GuestMemoryBalloon', 0);
}
