// Part of the VBoxManage double (see vboxmanage-double.mjs).
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import {
  env,
  HOME,
  lock,
  readRegistry,
  running,
  SELF,
  sleepMs,
  unlock,
  writeRegistry,
} from './vboxmanage-double-base.mjs';

// ---------------------------------------------------------------- the simulated guest
// Its clock stands still while the VM is paused or saved; its busy loop's work grows with the
// execution cap. It reads its user data from the context ISO attached, as the test guest does.

/** Work units per ms of the guest's busy loop at a cap of 100 %. */
export const SPIN_PER_MS = 1000;

export function bootGuest(vm, now) {
  vm.guest = { bootId: randomUUID(), uptimeMs: 0, since: now, spin: 0, spinning: false };
}

/** Accounts the time the guest ran since it was last settled. */
export function settleGuest(vm, now) {
  const guest = vm.guest;
  if (!guest || guest.since === null) return;
  const ran = Math.max(0, now - guest.since);
  guest.uptimeMs += ran;
  if (guest.spinning) guest.spin += Math.floor((ran * SPIN_PER_MS * (vm.cpuexecutioncap ?? 100)) / 100);
  guest.since = now;
}

/** The file `CONTEXT.SH` or `USER-DATA` of an attached ISO 9660 image, as the guest would find it. */
export function readContext(vm) {
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
export function guestReport(vm) {
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
export function startSpin(uuid) {
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
export function startServer(vm) {
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

export function serve(port, uuid) {
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
