import { describe, expect, it } from 'vitest';
import { buildQemuArgs, optionValue } from './qemu-args.js';
import { MAX_SOCKET_PATH, type VmMarker, vmPaths } from './vm-directory.js';

const marker: VmMarker = {
  format: 1,
  id: '5a0e6f4e-7d0b-4d5b-9f39-1b7f1f0a8f00',
  name: 'cvmweb-test-1',
  sessionId: 's',
  cpus: 2,
  ram: 256,
  apiPort: 40000,
  boot: { kind: 'iso', iso: '/cache/a,b "c".iso' },
  scratch: true,
};

describe('QEMU command line', () => {
  it('doubles commas inside option lists; spaces and quotes stay as they are (one argument each)', () => {
    expect(optionValue('/a,b/c d"e')).toBe('/a,,b/c d"e');
    const args = buildQemuArgs({
      marker,
      paths: vmPaths('/x, y', marker.name),
      accelerator: 'tcg',
      arch: 'x86_64',
    });
    expect(args).toContain('file=/cache/a,,b "c".iso,format=raw,media=cdrom,readonly=on,if=ide,index=2');
    expect(args).toContain('file=/x,, y/cvmweb-test-1/scratch.qcow2,format=qcow2,if=virtio,index=1');
    expect(args).toContain('-pidfile');
    expect(args[args.indexOf('-pidfile') + 1]).toBe('/x, y/cvmweb-test-1/qemu.pid'); // not an option list
    expect(args[args.indexOf('-fw_cfg') + 1]).toBe(
      'name=opt/cvmweb/properties,file=/x,, y/cvmweb-test-1/properties.json',
    );
  });

  it('forwards the API port from 127.0.0.1 only, and uses -cpu host only with a hardware accelerator', () => {
    const tcg = buildQemuArgs({
      marker,
      paths: vmPaths('/r', marker.name),
      accelerator: 'tcg',
      arch: 'x86_64',
    });
    expect(tcg).toContain('user,id=net0,hostfwd=tcp:127.0.0.1:40000-:80');
    expect(tcg).not.toContain('host');
    const kvm = buildQemuArgs({
      marker,
      paths: vmPaths('/r', marker.name),
      accelerator: 'kvm',
      arch: 'x86_64',
    });
    expect(kvm.join(' ')).toContain('-accel kvm -cpu host');
    const restore = buildQemuArgs({
      marker,
      paths: vmPaths('/r', marker.name),
      accelerator: 'tcg',
      arch: 'x86_64',
      incoming: true,
    });
    expect(restore.slice(-2)).toEqual(['-incoming', 'defer']);
  });

  it('shows a graphics device by VNC on 127.0.0.1 only, with a password, from the given display on', () => {
    const x86 = buildQemuArgs({
      marker,
      paths: vmPaths('/r', marker.name),
      accelerator: 'tcg',
      arch: 'x86_64',
      vncDisplay: 34100,
    }).join(' ');
    expect(x86).toContain('-device VGA -vnc 127.0.0.1:34100,to=34199,password=on');
    const arm = buildQemuArgs({
      marker: { ...marker, boot: { kind: 'kernel', kernel: '/k' } },
      paths: vmPaths('/r', marker.name),
      accelerator: 'tcg',
      arch: 'aarch64',
      vncDisplay: 0,
    }).join(' ');
    expect(arm).toContain('-device virtio-gpu-pci -vnc 127.0.0.1:0,to=99,password=on');
    const none = buildQemuArgs({
      marker,
      paths: vmPaths('/r', marker.name),
      accelerator: 'tcg',
      arch: 'x86_64',
    });
    expect(none).not.toContain('-vnc');
  });

  it('keeps unix socket paths within sockaddr_un: a long folder puts them in a short folder of the temp dir', () => {
    const short = vmPaths('/var/lib/cvmweb', 'cvmweb-a-1');
    expect(short.socketDir).toBe(short.dir);
    const long = vmPaths(`/home/${'x'.repeat(120)}/state`, `cvmweb-${'y'.repeat(50)}`);
    expect(long.socketDir).not.toBe(long.dir);
    for (const socket of [long.qmp, long.events, long.migration]) {
      expect(Buffer.byteLength(socket)).toBeLessThanOrEqual(MAX_SOCKET_PATH);
    }
    // Stable: the same folder always gets the same sockets (re-attach after a restart).
    expect(vmPaths(`/home/${'x'.repeat(120)}/state`, `cvmweb-${'y'.repeat(50)}`).qmp).toBe(long.qmp);
  });
});
