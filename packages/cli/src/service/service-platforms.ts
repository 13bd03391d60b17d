import { join } from 'node:path';
import { firstLine, type ProcessResult, type ProcessRunner } from '@cvmweb/core/node';
import { LAUNCHD_LABEL, launchdLogFile, launchdPlist, parseLaunchdArguments } from './launchd-plist.js';
import type { ServiceSpec } from './service-spec.js';
import { parseExecStart, SYSTEMD_MARKER, SYSTEMD_UNIT_NAME, systemdUnit } from './systemd-unit.js';
import {
  parseTaskCommand,
  TASK_NAME,
  taskFileBytes,
  taskFileText,
  taskSchedulerXml,
} from './task-scheduler-xml.js';

/** What the platform's service manager did, or why it could not. */
export interface ManagerOutcome {
  /** Lines saying what was done (`systemctl --user enable cvmweb.service`). */
  readonly done: readonly string[];
  /** Set when the manager is missing or refused: what went wrong. */
  readonly problem?: string;
  /** With `problem`: how to finish by hand. */
  readonly fix?: string;
}

/** Where a platform keeps its login service, how it writes it and how its manager runs it. */
export interface ServicePlatform {
  /** What the file is, for messages: `systemd user unit`. */
  readonly kind: string;
  /** The file `install` writes. */
  readonly file: string;
  /** Files the service itself makes (its log), removed by `uninstall`. */
  readonly madeByService: readonly string[];
  /** The file's text (for `--print`) and bytes. */
  render(spec: ServiceSpec): { text: string; bytes: Uint8Array };
  /** The command line of a file `install` wrote, or `undefined` for a file it did not write. */
  commandOf(bytes: Buffer): string[] | undefined;
  /** Enables and starts the service; `changed`: the file is new or different. */
  activate(changed: boolean): Promise<ManagerOutcome>;
  /** Stops and disables the service before its file is removed. */
  deactivate(): Promise<ManagerOutcome>;
  /** After the file is removed: lets the manager forget it. */
  forget(): Promise<void>;
  /** The manager's word on the service (`active`, `running`, `Ready`), `undefined` when it cannot say. */
  state(): Promise<string | undefined>;
}

/** What a platform needs to know about this machine and user. */
export interface ServicePlatformContext {
  /** `process.platform` or a platform to generate for. */
  readonly platform: NodeJS.Platform;
  /** The user's home directory. */
  readonly homeDir: string;
  /** Environment (`XDG_CONFIG_HOME`, `LOCALAPPDATA`). */
  readonly env: NodeJS.ProcessEnv;
  /** The user's uid (launchd's `gui/<uid>` domain). */
  readonly uid: number | undefined;
  /** Runs `systemctl`, `launchctl`, `schtasks`. */
  readonly runner: ProcessRunner;
}

type Run = (file: string, args: readonly string[]) => Promise<ProcessResult>;

function missing(tool: string, result: ProcessResult, what: string, fix: string): ManagerOutcome {
  const reason =
    result.errorCode === 'ENOENT'
      ? `${tool} is not installed here`
      : `${result.command} failed: ${firstLine(result.stderr) || `exit ${String(result.exitCode)}`}`;
  return { done: [], problem: `${what} (${reason})`, fix };
}

function systemd(context: ServicePlatformContext, run: Run): ServicePlatform {
  const configHome = context.env['XDG_CONFIG_HOME'] || join(context.homeDir, '.config');
  const file = join(configHome, 'systemd', 'user', SYSTEMD_UNIT_NAME);
  const systemctl = (...args: string[]) => run('systemctl', ['--user', ...args]);
  const fix =
    'On a system run by systemd, log in and run "systemctl --user daemon-reload && systemctl --user enable --now ' +
    `${SYSTEMD_UNIT_NAME}" (and "loginctl enable-linger" to start it at boot); without systemd, start "cvmweb serve" from your session's autostart.`;
  return {
    kind: 'systemd user unit',
    file,
    madeByService: [],
    render: (spec) => {
      const text = systemdUnit(spec);
      return { text, bytes: Buffer.from(text) };
    },
    commandOf: (bytes) => {
      const text = bytes.toString('utf8');
      return text.startsWith(SYSTEMD_MARKER) ? parseExecStart(text) : undefined;
    },
    async activate(changed) {
      const reload = await systemctl('daemon-reload');
      if (reload.failed)
        return missing(
          'systemctl',
          reload,
          'no systemd user manager answers, so the unit is not enabled',
          fix,
        );
      const steps = [
        ['enable', SYSTEMD_UNIT_NAME],
        [changed ? 'restart' : 'start', SYSTEMD_UNIT_NAME],
      ];
      const done = ['systemctl --user daemon-reload'];
      for (const step of steps) {
        const result = await systemctl(...step);
        if (result.failed) return { ...missing('systemctl', result, 'systemd refused the unit', fix), done };
        done.push(`systemctl --user ${step.join(' ')}`);
      }
      return { done };
    },
    async deactivate() {
      const result = await systemctl('disable', '--now', SYSTEMD_UNIT_NAME);
      return result.failed
        ? missing('systemctl', result, 'no systemd user manager answers, so there was nothing to stop', fix)
        : { done: [`systemctl --user disable --now ${SYSTEMD_UNIT_NAME}`] };
    },
    async forget() {
      await systemctl('daemon-reload');
    },
    async state() {
      return (await systemctl('is-active', SYSTEMD_UNIT_NAME)).stdout.trim() || undefined;
    },
  };
}

function launchd(context: ServicePlatformContext, run: Run): ServicePlatform {
  const file = join(context.homeDir, 'Library', 'LaunchAgents', `${LAUNCHD_LABEL}.plist`);
  const domain = `gui/${String(context.uid ?? 501)}`;
  const target = `${domain}/${LAUNCHD_LABEL}`;
  const fix = `On macOS, run "launchctl bootstrap ${domain} '${file}'" (it also starts at your next login).`;
  const loaded = async () => !(await run('launchctl', ['print', target])).failed;
  return {
    kind: 'launchd LaunchAgent',
    file,
    madeByService: [launchdLogFile(context.homeDir)],
    render: (spec) => {
      const text = launchdPlist(spec);
      return { text, bytes: Buffer.from(text) };
    },
    commandOf: (bytes) => parseLaunchdArguments(bytes.toString('utf8')),
    async activate(changed) {
      const probe = await run('launchctl', ['print', target]);
      if (probe.errorCode === 'ENOENT')
        return missing('launchctl', probe, 'launchd is not here, so the agent is not loaded', fix);
      const done: string[] = [];
      if (!probe.failed) {
        if (!changed) return { done: [`already loaded: ${target}`] };
        const out = await run('launchctl', ['bootout', target]);
        if (out.failed)
          return { ...missing('launchctl', out, 'launchd refused to unload the old agent', fix), done };
        done.push(`launchctl bootout ${target}`);
      }
      const boot = await run('launchctl', ['bootstrap', domain, file]);
      if (boot.failed) return { ...missing('launchctl', boot, 'launchd refused the agent', fix), done };
      return { done: [...done, `launchctl bootstrap ${domain} ${file}`] };
    },
    async deactivate() {
      if (!(await loaded())) return { done: [] };
      const out = await run('launchctl', ['bootout', target]);
      return out.failed
        ? missing('launchctl', out, 'launchd refused to unload the agent', fix)
        : { done: [`launchctl bootout ${target}`] };
    },
    forget: async () => undefined,
    async state() {
      const printed = await run('launchctl', ['print', target]);
      if (printed.failed) return undefined;
      return /^\s*state = (.+)$/m.exec(printed.stdout)?.[1]?.trim() ?? 'loaded';
    },
  };
}

function taskScheduler(context: ServicePlatformContext, run: Run): ServicePlatform {
  const localAppData = context.env['LOCALAPPDATA'] || join(context.homeDir, 'AppData', 'Local');
  const file = join(localAppData, 'cvmweb', 'cvmweb-logon-task.xml');
  const fix = `On Windows, run 'schtasks /Create /TN ${TASK_NAME} /XML "${file}" /F' (it also starts at your next logon).`;
  return {
    kind: 'Task Scheduler logon task',
    file,
    madeByService: [],
    render: (spec) => {
      const text = taskSchedulerXml(spec);
      return { text, bytes: taskFileBytes(text) };
    },
    commandOf: (bytes) => parseTaskCommand(taskFileText(bytes)),
    async activate(changed) {
      const query = await run('schtasks', ['/Query', '/TN', TASK_NAME]);
      if (query.errorCode === 'ENOENT')
        return missing('schtasks', query, 'Task Scheduler is not here, so the task is not registered', fix);
      if (!query.failed && !changed) return { done: [`already registered: ${TASK_NAME}`] };
      const create = await run('schtasks', ['/Create', '/TN', TASK_NAME, '/XML', file, '/F']);
      if (create.failed) return missing('schtasks', create, 'Task Scheduler refused the task', fix);
      const done = [`schtasks /Create /TN ${TASK_NAME} /XML ${file} /F`];
      const start = await run('schtasks', ['/Run', '/TN', TASK_NAME]);
      if (start.failed)
        return { ...missing('schtasks', start, 'Task Scheduler did not start the task', fix), done };
      return { done: [...done, `schtasks /Run /TN ${TASK_NAME}`] };
    },
    async deactivate() {
      const query = await run('schtasks', ['/Query', '/TN', TASK_NAME]);
      if (query.failed) return { done: [] };
      await run('schtasks', ['/End', '/TN', TASK_NAME]);
      const removed = await run('schtasks', ['/Delete', '/TN', TASK_NAME, '/F']);
      return removed.failed
        ? missing('schtasks', removed, 'Task Scheduler refused to delete the task', fix)
        : { done: [`schtasks /Delete /TN ${TASK_NAME} /F`] };
    },
    forget: async () => undefined,
    async state() {
      const query = await run('schtasks', ['/Query', '/TN', TASK_NAME, '/FO', 'LIST']);
      if (query.failed) return undefined;
      return /^Status:\s*(.+)$/m.exec(query.stdout)?.[1]?.trim() ?? 'registered';
    },
  };
}

/** The login-service platform of `context.platform`: systemd (Linux and others), launchd (macOS), Task Scheduler (Windows). */
export function servicePlatform(context: ServicePlatformContext): ServicePlatform {
  const run: Run = (file, args) => context.runner.run(file, args, { reject: false, timeoutMs: 30_000 });
  if (context.platform === 'darwin') return launchd(context, run);
  if (context.platform === 'win32') return taskScheduler(context, run);
  return systemd(context, run);
}
