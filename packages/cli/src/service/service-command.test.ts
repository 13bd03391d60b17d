import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'plist';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CliIo } from '../cli-io.js';
import { ExitCode } from '../exit-codes.js';
import { type ServiceHost, serviceCommand } from './service-command.js';
import { parseTaskCommand, taskFileText } from './task-scheduler-xml.js';

const program = ['/usr/bin/node', '/opt/cvmweb/dist/bin.js'];

/** Every file (not folder) under `dir`, relative. */
async function files(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1))
    .sort();
}

describe('cvmweb service', () => {
  let home: string;
  let out: string[];
  let err: string[];
  let io: CliIo;
  beforeEach(async () => {
    home = await mkdtemp(join(tmpdir(), 'cvmweb-service-'));
    out = [];
    err = [];
    // PATH without systemctl, launchctl or schtasks: no service manager here (as on this machine).
    io = {
      out: (text) => out.push(text),
      err: (text) => err.push(text),
      isTTY: false,
      env: { PATH: join(home, 'bin') },
      drivers: () => [],
    };
  });
  afterEach(async () => {
    await rm(home, { recursive: true, force: true });
  });
  const host = (platform: NodeJS.Platform): ServiceHost => ({
    platform,
    homeDir: home,
    uid: 501,
    user: 'HOST\\ada',
    program: () => program,
  });

  it.each([
    ['linux', '.config/systemd/user/cvmweb.service', 'ExecStart="/usr/bin/node"'],
    ['darwin', 'Library/LaunchAgents/cvmweb.serve.plist', '<string>/usr/bin/node</string>'],
    ['win32', 'AppData/Local/cvmweb/cvmweb-logon-task.xml', '<Command>/usr/bin/node</Command>'],
  ] as const)(
    'install --print on %s shows the path and the file and writes nothing',
    async (platform, file, line) => {
      expect(await serviceCommand(io, ['install'], { print: true, port: 6000 }, host(platform))).toBe(
        ExitCode.OK,
      );
      const printed = out.join('');
      expect(printed).toContain(join(home, file));
      expect(printed).toContain(line);
      expect(printed).toContain('6000');
      expect(await readdir(home)).toEqual([]);
    },
  );

  it('linux round trip without systemd: install writes the unit and exits 5 with a fix, again changes nothing, status, uninstall removes it', async () => {
    const unit = join(home, '.config/systemd/user/cvmweb.service');
    const flags = { port: 6001, driver: 'mock', stateDir: join(home, 'state dir') };
    expect(await serviceCommand(io, ['install'], flags, host('linux'))).toBe(ExitCode.SERVICE_NOT_ENABLED);
    expect(out.join('')).toContain(`Wrote the systemd user unit ${unit}`);
    expect(err.join('')).toContain('systemctl is not installed here');
    expect(err.join('')).toContain('Fix: On a system run by systemd');
    const written = await readFile(unit, 'utf8');
    expect(written).toContain(
      `ExecStart="/usr/bin/node" "/opt/cvmweb/dist/bin.js" "serve" "--port" "6001" "--driver" "mock" "--state-dir" "${home}/state dir"`,
    );
    const before = await stat(unit);
    out.length = 0;
    expect(await serviceCommand(io, ['install'], flags, host('linux'))).toBe(ExitCode.SERVICE_NOT_ENABLED);
    expect(out.join('')).toContain('Unchanged');
    expect((await stat(unit)).mtimeMs).toBe(before.mtimeMs);
    out.length = 0;
    expect(await serviceCommand(io, ['status'], { json: true }, host('linux'))).toBe(ExitCode.SERVICE_DOWN);
    expect(JSON.parse(out.join(''))).toMatchObject({
      installed: true,
      file: unit,
      port: 6001,
      answers: false,
      manager: null,
    });
    out.length = 0;
    expect(await serviceCommand(io, ['uninstall'], {}, host('linux'))).toBe(ExitCode.OK);
    expect(out.join('')).toContain(`Removed the systemd user unit ${unit}`);
    expect(await files(home)).toEqual([]);
    out.length = 0;
    expect(await serviceCommand(io, ['uninstall'], {}, host('linux'))).toBe(ExitCode.OK);
    expect(out.join('')).toContain('Not installed');
  });

  it('macOS and Windows round trips without their managers: the plist and the task file, then nothing left', async () => {
    expect(await serviceCommand(io, ['install'], { port: 6002 }, host('darwin'))).toBe(
      ExitCode.SERVICE_NOT_ENABLED,
    );
    expect(err.join('')).toContain('launchctl is not installed here');
    const plist = join(home, 'Library/LaunchAgents/cvmweb.serve.plist');
    expect(parse(await readFile(plist, 'utf8'))).toMatchObject({
      Label: 'cvmweb.serve',
      ProgramArguments: [...program, 'serve', '--port', '6002'],
      EnvironmentVariables: { PATH: join(home, 'bin') },
    });
    // The agent's log, which launchd makes when it runs the agent, goes too.
    await mkdir(join(home, 'Library/Logs'));
    await writeFile(join(home, 'Library/Logs/cvmweb-serve.log'), 'serve output\n');
    await writeFile(join(home, 'Library/Logs/other.log'), 'not ours\n');
    expect(await serviceCommand(io, ['uninstall'], {}, host('darwin'))).toBe(ExitCode.OK);
    expect(await files(home)).toEqual(['Library/Logs/other.log']);

    expect(await serviceCommand(io, ['install'], { port: 6003 }, host('win32'))).toBe(
      ExitCode.SERVICE_NOT_ENABLED,
    );
    expect(err.join('')).toContain('schtasks is not installed here');
    const task = join(home, 'AppData/Local/cvmweb/cvmweb-logon-task.xml');
    expect(parseTaskCommand(taskFileText(await readFile(task)))).toEqual([
      ...program,
      'serve',
      '--port',
      '6003',
    ]);
    expect(await serviceCommand(io, ['uninstall'], {}, host('win32'))).toBe(ExitCode.OK);
    expect(await files(home)).toEqual(['Library/Logs/other.log']);
  });

  it('leaves a file it did not write alone, and refuses wrong usage', async () => {
    const unit = join(home, '.config/systemd/user/cvmweb.service');
    await mkdir(join(home, '.config/systemd/user'), { recursive: true });
    await writeFile(unit, '[Service]\nExecStart=/usr/bin/mine\n');
    await expect(serviceCommand(io, ['install'], {}, host('linux'))).rejects.toMatchObject({
      codeName: 'INVALID_USAGE',
    });
    await expect(serviceCommand(io, ['uninstall'], {}, host('linux'))).rejects.toMatchObject({
      codeName: 'INVALID_USAGE',
    });
    expect(await readFile(unit, 'utf8')).toBe('[Service]\nExecStart=/usr/bin/mine\n');
    for (const [args, flags] of [
      [['start'], {}],
      [['status'], { print: true }],
      [['install'], { port: 0 }],
      [['install'], { fallback: 'qemu' }],
      [['install'], { driver: 'a b' }],
    ] as const) {
      await expect(serviceCommand(io, args, flags, host('linux')), args.join(' ')).rejects.toMatchObject({
        codeName: 'INVALID_USAGE',
      });
    }
  });

  it('with a systemd user manager: enables and starts, restarts only a changed unit, disables on uninstall', async () => {
    // A stand-in for systemctl that records its arguments (no user manager can run here).
    const calls = join(home, 'calls');
    await mkdir(join(home, 'bin'));
    await writeFile(join(home, 'bin/systemctl'), `#!/bin/sh\necho "$@" >> '${calls}'\n`);
    await chmod(join(home, 'bin/systemctl'), 0o755);
    const recorded = async () => (await readFile(calls, 'utf8')).trim().split('\n');
    expect(await serviceCommand(io, ['install'], {}, host('linux'))).toBe(ExitCode.OK);
    expect(await recorded()).toEqual([
      '--user daemon-reload',
      '--user enable cvmweb.service',
      '--user restart cvmweb.service',
    ]);
    await rm(calls);
    expect(await serviceCommand(io, ['install'], {}, host('linux'))).toBe(ExitCode.OK);
    expect(await recorded()).toEqual([
      '--user daemon-reload',
      '--user enable cvmweb.service',
      '--user start cvmweb.service',
    ]);
    await rm(calls);
    expect(await serviceCommand(io, ['uninstall'], {}, host('linux'))).toBe(ExitCode.OK);
    expect(await recorded()).toEqual(['--user disable --now cvmweb.service', '--user daemon-reload']);
    expect(err).toEqual([]);
  });
});
