// The VBoxManage double's display: the extension packs (VRDE comes from Oracle's pack), the VRDE
// keys of showvminfo, setextradata, and controlvm screenshotpng. Sources, all VirtualBox's:
// - `list extpacks`: VBoxManageList.cpp, listExtensionPacks(): "Extension Packs: %u", then per pack
//   "Pack no.%2zu:   %ls", Version, Revision, Edition, Description, "VRDE Module:  %ls",
//   "Usable:       %RTbool", "Why unusable: %ls".
// - showvminfo --machinereadable: VBoxManageInfo.cpp prints `vrde="on"`, `vrdeport=%d` (the
//   running server's port from IVRDEServerInfo: -1 while the VM is not powered up, 0 when the
//   server could not start), `vrdeports`, `vrdeaddress`, `vrdeauthtype`, `vrdemulticon`,
//   `vrdereusecon`, `vrdevideochannel`; `vrde="off"` when disabled.
// - setextradata <vm> <key> [<value>]: VBoxManageMisc.cpp, handleSetExtraData (no output).
// - controlvm <vm> screenshotpng <file> [display]: VBoxManageControlVM.cpp,
//   TakeScreenShotToArray(…, BitmapFormat_PNG) written to the file.
//
// VBOXDOUBLE_EXTPACK=none   no extension pack installed; =unusable   Oracle's pack is not usable.

import fs from 'node:fs';
import { deflateSync } from 'node:zlib';
import { env, print, running, syntax, VERSION } from './vboxmanage-double-base.mjs';

/** `list extpacks`. */
export function listExtPacks() {
  if (env.VBOXDOUBLE_EXTPACK === 'none') {
    print('Extension Packs: 0');
    return;
  }
  const usable = env.VBOXDOUBLE_EXTPACK !== 'unusable';
  const version = VERSION.replace(/[_r].*$/, '');
  print('Extension Packs: 1');
  print('Pack no. 0:   Oracle VM VirtualBox Extension Pack');
  print(`Version:      ${version}`);
  print(`Revision:     ${/r(\d+)$/.exec(VERSION)?.[1] ?? '0'}`);
  print('Edition:      ');
  print(
    'Description:  Oracle Cloud Infrastructure integration, Host Webcam, VirtualBox RDP, PXE ROM, Disk Encryption, NVMe, full VM encryption.',
  );
  print('VRDE Module:  VBoxVRDP');
  print(`Usable:       ${usable}`);
  print(
    `Why unusable: ${usable ? '' : `The installed version ${version}r1 does not match the VirtualBox version`}`,
  );
}

/** The `modifyvm` VRDE options the double keeps. */
export const VRDE_OPTIONS = {
  '--vrde': 'string',
  '--vrdeaddress': 'string',
  '--vrdeauthtype': 'string',
  '--vrdeauthlibrary': 'string',
  '--vrdeport': 'string',
};

/** Records the VRDE options of one `modifyvm`. */
export function modifyVrde(vm, options) {
  vm.vrdeSettings ??= { vrde: 'off', ports: '3389', address: '', authtype: 'null', authlibrary: '' };
  const v = vm.vrdeSettings;
  if (options['--vrde'] !== undefined) {
    if (!/^(on|off)$/.test(options['--vrde'])) syntax(`Invalid --vrde argument '${options['--vrde']}'`);
    v.vrde = options['--vrde'];
  }
  if (options['--vrdeport'] !== undefined) {
    if (!/^(default|\d+(-\d+)?(,\d+(-\d+)?)*)$/.test(options['--vrdeport']))
      syntax(`Invalid --vrdeport argument '${options['--vrdeport']}'`);
    v.ports = options['--vrdeport'];
  }
  if (options['--vrdeaddress'] !== undefined) v.address = options['--vrdeaddress'];
  if (options['--vrdeauthtype'] !== undefined) {
    if (!/^(null|external|guest)$/.test(options['--vrdeauthtype']))
      syntax(`Invalid --vrdeauthtype argument '${options['--vrdeauthtype']}'`);
    v.authtype = options['--vrdeauthtype'];
  }
  if (options['--vrdeauthlibrary'] !== undefined) v.authlibrary = options['--vrdeauthlibrary'];
}

/**
 * The port the running server bound: the first port of its setting (the double binds nothing);
 * 0 without a usable extension pack (VRDE could not start); -1 while the VM does not run.
 */
function currentPort(vm) {
  if (!running(vm)) return -1;
  if (env.VBOXDOUBLE_EXTPACK === 'none' || env.VBOXDOUBLE_EXTPACK === 'unusable') return 0;
  const first = Number(/^\d+/.exec(vm.vrdeSettings.ports)?.[0] ?? 3389);
  return first;
}

/** The VRDE keys of `showvminfo --machinereadable`. */
export function showVrde(vm, mr) {
  const v = vm.vrdeSettings;
  if (!v || v.vrde !== 'on') {
    mr('vrde', 'off');
    return;
  }
  mr('vrde', 'on');
  mr('vrdeport', currentPort(vm));
  mr('vrdeports', v.ports);
  mr('vrdeaddress', v.address);
  mr('vrdeauthtype', v.authtype);
  mr('vrdemulticon', 'off');
  mr('vrdereusecon', 'off');
  mr('vrdevideochannel', 'off');
}

/** `setextradata <vm> <key> [<value>]`: sets, or without a value removes, a key. */
export function setExtraData(vm, args) {
  const [key, value] = args;
  if (key === undefined || args.length > 2) syntax('Incorrect number of parameters');
  vm.extradata ??= {};
  if (value === undefined) delete vm.extradata[key];
  else vm.extradata[key] = value;
}

/** `controlvm <vm> screenshotpng <file>`: a 720x400 PNG (a VGA text screen's size), not blank. */
export function screenshotPng(vm, rest) {
  const [file] = rest;
  if (!file || rest.length > 2) syntax('Incorrect number of parameters.');
  const width = 720;
  const height = 400;
  const rows = [];
  for (let y = 0; y < height; y++) {
    const row = Buffer.alloc(1 + width * 3);
    for (let x = 0; x < width; x++) {
      // A bright band where a boot message's first line would be.
      const lit = y >= 8 && y < 24 && x < 8 * vm.name.length;
      row.fill(lit ? 0xaa : 0, 1 + x * 3, 4 + x * 3);
    }
    rows.push(row);
  }
  const chunk = (type, data) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  fs.writeFileSync(
    file,
    Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk('IHDR', header),
      chunk('IDAT', deflateSync(Buffer.concat(rows))),
      chunk('IEND', Buffer.alloc(0)),
    ]),
  );
}

function crc32(bytes) {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}
