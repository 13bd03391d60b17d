import { escapeXml } from './xml.js';

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
  /** The cvmweb metadata element (the driver builds it from the VM's session id and installation); inserted as is. */
  readonly metadataXml: string;
  /** The API forward: host 127.0.0.1:`hostPort` → guest port 80 through QEMU's user network. */
  readonly apiForward?: {
    /** The loopback port on the host. */
    readonly hostPort: number;
    /** The guest's port (80). */
    readonly guestPort: number;
  };
  /** A file on the hypervisor host receiving the serial console (debugging). */
  readonly serialLog?: string;
}

const QEMU_NAMESPACE = 'http://libvirt.org/schemas/domain/qemu/1.0';

/**
 * The libvirt domain XML of `model`. Every value is escaped; the structure is fixed, so no input
 * can add elements.
 */
export function buildDomainXml(model: DomainModel): string {
  const e = escapeXml;
  const lines: string[] = [];
  lines.push(`<domain type="${e(model.virtType)}" xmlns:qemu="${QEMU_NAMESPACE}">`);
  lines.push(`  <name>${e(model.name)}</name>`);
  lines.push(`  <uuid>${e(model.uuid)}</uuid>`);
  lines.push(`  <metadata>${model.metadataXml}</metadata>`);
  lines.push(`  <memory unit="MiB">${integer(model.memoryMiB)}</memory>`);
  lines.push(`  <vcpu placement="static">${integer(model.vcpus)}</vcpu>`);
  if (model.cputune) {
    lines.push(
      `  <cputune><period>${integer(model.cputune.periodUs)}</period><quota>${integer(model.cputune.quotaUs)}</quota></cputune>`,
    );
  }
  lines.push('  <os>');
  lines.push('    <type arch="x86_64" machine="pc">hvm</type>');
  const boot = model.boot;
  if (boot.kind === 'kernel') {
    lines.push(`    <kernel>${e(boot.kernel)}</kernel>`);
    if (boot.initrd !== undefined) lines.push(`    <initrd>${e(boot.initrd)}</initrd>`);
    if (boot.cmdline !== undefined) lines.push(`    <cmdline>${e(boot.cmdline)}</cmdline>`);
  } else {
    lines.push(`    <boot dev="${boot.kind === 'cdrom' ? 'cdrom' : 'hd'}"/>`);
  }
  lines.push('  </os>');
  lines.push('  <features><acpi/><apic/></features>');
  if (model.virtType === 'kvm') lines.push('  <cpu mode="host-passthrough"/>');
  lines.push('  <clock offset="utc"/>');
  lines.push('  <on_poweroff>destroy</on_poweroff>');
  lines.push('  <on_reboot>restart</on_reboot>');
  lines.push('  <on_crash>destroy</on_crash>');
  lines.push('  <devices>');
  for (const disk of model.disks) lines.push(diskXml(disk));
  if (model.serialLog !== undefined) {
    lines.push(`    <serial type="file"><source path="${e(model.serialLog)}"/><target port="0"/></serial>`);
  } else {
    lines.push('    <serial type="pty"><target port="0"/></serial>');
  }
  lines.push('    <memballoon model="none"/>');
  lines.push('  </devices>');
  if (model.apiForward) {
    const { hostPort, guestPort } = model.apiForward;
    lines.push('  <qemu:commandline>');
    lines.push('    <qemu:arg value="-netdev"/>');
    lines.push(
      `    <qemu:arg value="user,id=cvmwebnet0,hostfwd=tcp:127.0.0.1:${integer(hostPort)}-:${integer(guestPort)}"/>`,
    );
    lines.push('    <qemu:arg value="-device"/>');
    lines.push('    <qemu:arg value="virtio-net-pci,netdev=cvmwebnet0,addr=0x10,romfile="/>');
    lines.push('  </qemu:commandline>');
  }
  lines.push('</domain>');
  return `${lines.join('\n')}\n`;
}

function diskXml(disk: DiskModel): string {
  const e = escapeXml;
  const source =
    'pool' in disk.source
      ? `<source pool="${e(disk.source.pool)}" volume="${e(disk.source.volume)}"/>`
      : `<source file="${e(disk.source.file)}"/>`;
  const type = 'pool' in disk.source ? 'volume' : 'file';
  return (
    `    <disk type="${type}" device="${disk.device}">` +
    `<driver name="qemu" type="${e(disk.format)}"/>${source}` +
    `<target dev="${e(disk.target)}" bus="${disk.bus}"/>${disk.readonly ? '<readonly/>' : ''}</disk>`
  );
}

function integer(value: number): string {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`not a non-negative integer: ${value}`);
  return String(value);
}
