import type { Element } from '@xmldom/xmldom';
import { appendMetadata, type VmMetadata } from './vm-metadata.js';
import { appendElement, createXmlDocument, serializeXml } from './xml.js';

/** Where a disk's bytes come from: a volume of a storage pool, or a file on the hypervisor host. */
export type DiskSource =
  | {
      /** The storage pool holding the volume. */
      readonly pool: string;
      /** The volume's name in the pool. */
      readonly volume: string;
    }
  | {
      /** A file on the hypervisor host. */
      readonly file: string;
    };

/** One disk or CD-ROM of a domain. */
export interface DiskModel {
  /** A hard disk or a CD-ROM drive. */
  readonly device: 'disk' | 'cdrom';
  /** Where the image is. */
  readonly source: DiskSource;
  /** The image format (`qcow2`, `raw`). */
  readonly format: string;
  /** The guest-side name: `vda` (virtio) or `hdc`/`hdd` (IDE). */
  readonly target: string;
  /** The controller the guest sees the disk on. */
  readonly bus: 'virtio' | 'ide' | 'sata';
  /** Attach it read-only (CD-ROMs are). */
  readonly readonly?: boolean;
}

/** How the domain boots. */
export type BootModel =
  | {
      /** From the first CD-ROM. */
      readonly kind: 'cdrom';
    }
  | {
      /** From the first disk. */
      readonly kind: 'disk';
    }
  | {
      /** A kernel QEMU loads directly. */
      readonly kind: 'kernel';
      /** The kernel's path on the hypervisor host. */
      readonly kernel: string;
      /** The initial RAM disk's path, if any. */
      readonly initrd?: string;
      /** The kernel command line. */
      readonly cmdline?: string;
    };

/** Everything the driver puts into a domain definition. */
export interface DomainModel {
  /** The domain's name. */
  readonly name: string;
  /** The domain's UUID. */
  readonly uuid: string;
  /** Memory in MiB. */
  readonly memoryMiB: number;
  /** Virtual CPUs. */
  readonly vcpus: number;
  /** `kvm` for hardware acceleration, `qemu` for TCG. */
  readonly virtType: 'kvm' | 'qemu';
  /** What the domain boots from. */
  readonly boot: BootModel;
  /** Its disks and CD-ROMs, in order. */
  readonly disks: readonly DiskModel[];
  /** CPU bandwidth per vCPU (libvirt's `vcpu_period`/`vcpu_quota`), when capped. */
  readonly cputune?: {
    /** The period, in microseconds. */
    readonly periodUs: number;
    /** The CPU time per period, in microseconds. */
    readonly quotaUs: number;
  };
  /** What cvmweb records on the domain (its `<metadata>`); none for a domain that is not a session's. */
  readonly metadata?: VmMetadata;
  /** The API forward: host 127.0.0.1:`hostPort` → guest port 80 through QEMU's user network. */
  readonly apiForward?: {
    /** The loopback port on the host. */
    readonly hostPort: number;
    /** The guest's port (80). */
    readonly guestPort: number;
  };
  /** A file on the hypervisor host receiving the serial console (debugging). */
  readonly serialLog?: string;
  /** A VNC display on 127.0.0.1 (a port libvirt picks) with this password. */
  readonly vncPassword?: string;
}

const QEMU_NAMESPACE = 'http://libvirt.org/schemas/domain/qemu/1.0';

/**
 * The libvirt domain XML of `model`, built as a document (xmldom) and serialized: every value is
 * an attribute or a text node, so no input can add markup. Numbers must be non-negative
 * integers (`RangeError`), strings characters XML can carry (`INVALID_USAGE`).
 */
export function buildDomainXml(model: DomainModel): string {
  const document = createXmlDocument('domain', { qemu: QEMU_NAMESPACE });
  const domain = document.documentElement as Element;
  domain.setAttribute('type', model.virtType);
  const add = (
    parent: Element,
    name: string,
    attributes?: Record<string, string | number>,
    text?: string | number,
  ) => appendElement(parent, name, attributes, text);
  add(domain, 'name', {}, model.name);
  add(domain, 'uuid', {}, model.uuid);
  if (model.metadata) appendMetadata(add(domain, 'metadata'), model.metadata);
  add(domain, 'memory', { unit: 'MiB' }, model.memoryMiB);
  add(domain, 'vcpu', { placement: 'static' }, model.vcpus);
  if (model.cputune) {
    const cputune = add(domain, 'cputune');
    add(cputune, 'period', {}, model.cputune.periodUs);
    add(cputune, 'quota', {}, model.cputune.quotaUs);
  }
  const os = add(domain, 'os');
  add(os, 'type', { arch: 'x86_64', machine: 'pc' }, 'hvm');
  const boot = model.boot;
  if (boot.kind === 'kernel') {
    add(os, 'kernel', {}, boot.kernel);
    if (boot.initrd !== undefined) add(os, 'initrd', {}, boot.initrd);
    if (boot.cmdline !== undefined) add(os, 'cmdline', {}, boot.cmdline);
  } else {
    add(os, 'boot', { dev: boot.kind === 'cdrom' ? 'cdrom' : 'hd' });
  }
  const features = add(domain, 'features');
  add(features, 'acpi');
  add(features, 'apic');
  if (model.virtType === 'kvm') add(domain, 'cpu', { mode: 'host-passthrough' });
  add(domain, 'clock', { offset: 'utc' });
  add(domain, 'on_poweroff', {}, 'destroy');
  add(domain, 'on_reboot', {}, 'restart');
  add(domain, 'on_crash', {}, 'destroy');
  const devices = add(domain, 'devices');
  for (const disk of model.disks) appendDisk(devices, disk);
  const serial =
    model.serialLog !== undefined
      ? add(devices, 'serial', { type: 'file' })
      : add(devices, 'serial', { type: 'pty' });
  if (model.serialLog !== undefined) add(serial, 'source', { path: model.serialLog });
  add(serial, 'target', { port: 0 });
  if (model.vncPassword !== undefined) {
    const graphics = add(devices, 'graphics', {
      type: 'vnc',
      autoport: 'yes',
      listen: '127.0.0.1',
      passwd: model.vncPassword,
    });
    add(graphics, 'listen', { type: 'address', address: '127.0.0.1' });
    add(add(devices, 'video'), 'model', { type: 'vga' });
  }
  add(devices, 'memballoon', { model: 'none' });
  if (model.apiForward) {
    const { hostPort, guestPort } = model.apiForward;
    const line = appendElement(domain, 'qemu:commandline', {}, undefined, QEMU_NAMESPACE);
    const arg = (value: string) => appendElement(line, 'qemu:arg', { value }, undefined, QEMU_NAMESPACE);
    arg('-netdev');
    arg(`user,id=cvmwebnet0,hostfwd=tcp:127.0.0.1:${integer(hostPort)}-:${integer(guestPort)}`);
    arg('-device');
    arg('virtio-net-pci,netdev=cvmwebnet0,addr=0x10,romfile=');
  }
  return `${serializeXml(document)}\n`;
}

function appendDisk(devices: Element, disk: DiskModel): void {
  const volume = 'pool' in disk.source;
  const element = appendElement(devices, 'disk', { type: volume ? 'volume' : 'file', device: disk.device });
  appendElement(element, 'driver', { name: 'qemu', type: disk.format });
  appendElement(
    element,
    'source',
    'pool' in disk.source
      ? { pool: disk.source.pool, volume: disk.source.volume }
      : { file: disk.source.file },
  );
  appendElement(element, 'target', { dev: disk.target, bus: disk.bus });
  if (disk.readonly) appendElement(element, 'readonly');
}

function integer(value: number): string {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`not a non-negative integer: ${value}`);
  return String(value);
}
