import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDomainXml } from './domain-xml.js';
import { libvirtUnavailable, lockLibvirt, TEST_POOL, virshOut } from './testing/index.js';
import { parseMetadata } from './vm-metadata.js';
import { childElements, parseXml } from './xml.js';

// The domain XML the driver builds, defined on the real libvirt daemon (never started) and read
// back with `virsh dumpxml`: values with quotes, markup characters and line breaks arrive intact.
const unavailable = await libvirtUnavailable();

/** A name libvirt accepts (it refuses a line feed and a slash in one), with every markup character. */
const NAME = `cvmweb-xmlrt-"q' <a&b>`;
const VALUE = `say "hi" & 'bye' <b>\r\nnext line\rcr\ttab é ]]> <!-- $(id)`;

/** A value as libvirt escapes it in its own output: the five markup characters, nothing else. */
function libvirtEscaped(value: string): string {
  const entities: Record<string, string> = {
    '&': '&amp;',
    '<': '&lt;',
    '>': '&gt;',
    '"': '&quot;',
    "'": '&apos;',
  };
  return value.replace(/[&<>"']/g, (c) => entities[c] ?? c);
}

describe.skipIf(unavailable !== undefined)(
  `domain XML through real libvirt${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    let dir: string;
    let release: () => Promise<void> = async () => undefined;
    const undefine = () => virshOut(['undefine', NAME]);

    beforeAll(async () => {
      release = await lockLibvirt('shared');
      dir = await mkdtemp(join(tmpdir(), 'cvmweb-xmlrt-'));
      await undefine();
    });
    afterAll(async () => {
      await undefine();
      await rm(dir, { recursive: true, force: true });
      await release();
    });

    it('round-trips a name and values with quotes, <, &, \\r and \\n through define and dumpxml', async () => {
      const metadata = {
        installation: `inst ${VALUE} end`,
        sessionId: 's',
        apiPort: 40001,
        volumes: [VALUE],
      };
      const file = join(dir, 'domain.xml');
      await writeFile(
        file,
        buildDomainXml({
          name: NAME,
          uuid: randomUUID(),
          memoryMiB: 64,
          vcpus: 1,
          virtType: 'qemu',
          boot: { kind: 'kernel', kernel: `/nowhere/${VALUE}`, cmdline: VALUE },
          disks: [
            {
              device: 'disk',
              source: { pool: TEST_POOL, volume: VALUE },
              format: 'qcow2',
              target: 'vda',
              bus: 'virtio',
            },
          ],
          metadata,
          apiForward: { hostPort: 40001, guestPort: 80 },
        }),
      );
      expect(await virshOut(['define', file])).toContain('defined');
      const dumped = await virshOut(['dumpxml', '--inactive', NAME]);
      const domain = parseXml(dumped, 'the dumped domain').documentElement!;
      expect(childElements(domain, 'name')[0]?.textContent).toBe(NAME);
      // cvmweb's metadata is kept as the document libvirt was given: every character comes back.
      expect(parseMetadata(dumped)).toEqual(metadata);
      // The elements libvirt owns it prints with its own escaping, which leaves line breaks and
      // tabs raw (a parser then reads them as spaces in an attribute, as a line feed in text):
      // what it holds is the exact value, as its raw output shows.
      expect(dumped).toContain(`volume='${libvirtEscaped(VALUE)}'`);
      expect(dumped).toContain(`<cmdline>${libvirtEscaped(VALUE)}</cmdline>`);
      expect(dumped).toContain(`<kernel>/nowhere/${libvirtEscaped(VALUE)}</kernel>`);
    });
  },
);
