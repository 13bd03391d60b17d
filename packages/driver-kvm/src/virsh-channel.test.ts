import { PassThrough } from 'node:stream';
import { type LongRunningProcess, type ProcessRunner, processResult } from '@cvmweb/core/node';
import { describe, expect, it } from 'vitest';
import { VirshChannel } from './virsh-channel.js';

/**
 * An interactive virsh stand-in (no prompt): answers each command line with `answer(line)`, and
 * each `echo --err|--xml <marker>` as virsh does.
 */
function fakeVirsh(answer: (line: string) => { stdout?: string; stderr?: string }): ProcessRunner {
  return {
    run: async (file, args) => processResult(file, args),
    spawn: () => {
      const stdin = new PassThrough();
      const stdout = new PassThrough();
      const stderr = new PassThrough();
      let end: () => void = () => undefined;
      const exited = new Promise<void>((resolve) => {
        end = resolve;
      });
      let buffer = '';
      stdin.setEncoding('utf8');
      stdin.on('data', (chunk: string) => {
        buffer += chunk;
        let at = buffer.indexOf('\n');
        while (at >= 0) {
          const line = buffer.slice(0, at);
          buffer = buffer.slice(at + 1);
          at = buffer.indexOf('\n');
          const err = /^echo --err (\S+)$/.exec(line);
          const xml = /^echo --xml (\S+)&$/.exec(line);
          if (err) stderr.write(`error: ${err[1]}\n`);
          else if (xml) stdout.write(`${xml[1]}&amp;\n`);
          else {
            const out = answer(line);
            if (out.stdout) stdout.write(out.stdout);
            if (out.stderr) stderr.write(out.stderr);
          }
        }
      });
      const child: LongRunningProcess = { stdin, stdout, stderr, exited, kill: () => end() };
      return child;
    },
  };
}

describe('VirshChannel', () => {
  it("does not take virsh's reconnection notices (a libvirtd restart) for a failed command", async () => {
    let first = true;
    const channel = new VirshChannel(
      fakeVirsh((line) => {
        if (line.startsWith('domstate') && first) {
          first = false;
          return {
            stderr:
              'error: Disconnected from qemu:///system due to end of file\nerror: Reconnected to the hypervisor\n',
            stdout: 'running (booted)\n\n',
          };
        }
        if (line.startsWith('domstate')) return { stdout: 'paused (user)\n\n' };
        return { stderr: "error: failed to get domain 'nope'\n" };
      }),
      { virsh: 'virsh', uri: 'qemu:///system', timeoutMs: 1000 },
    );
    try {
      expect(await channel.run(['domstate', 'a', '--reason'])).toMatchObject({
        stdout: 'running (booted)\n\n',
        stderr: '',
        exitCode: 0,
      });
      expect((await channel.run(['domstate', 'a', '--reason'])).stdout).toBe('paused (user)\n\n');
      // A real error still fails the command.
      expect(await channel.run(['suspend', 'nope'])).toMatchObject({
        exitCode: 1,
        stderr: "error: failed to get domain 'nope'\n",
      });
    } finally {
      channel.close();
    }
  });
});
