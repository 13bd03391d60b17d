import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DOMParser, type Element, MIME_TYPE } from '@xmldom/xmldom';
import { parse } from 'plist';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { launchdPlist, parseLaunchdArguments } from './launchd-plist.js';
import { parseExecStart, quoteSystemdArgument, systemdUnit } from './systemd-unit.js';
import {
  parseTaskCommand,
  TASK_NAMESPACE,
  taskFileBytes,
  taskFileText,
  taskSchedulerXml,
} from './task-scheduler-xml.js';
import { quoteWindowsArgument, splitWindowsArguments } from './windows-arguments.js';

/** Arguments that break naive quoting in one format or another. */
const awkward = [
  '/home/a b/it\'s "quoted"',
  '100% $HOME $(X) %h $$',
  'back\\slash\\',
  '<&>',
  'semi;colon|pipe',
  'trailing\\\\',
  'ünïcödé',
];

const spec = {
  command: ['/usr/bin/node', '/opt/cvmweb/dist/bin.js', 'serve', '--port', '5624'],
  homeDir: '/home/ada',
  path: '/usr/local/bin:/usr/bin:/bin',
  user: 'HOST\\ada',
};

describe('systemd user unit', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cvmweb-unit-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  function verify(file: string) {
    return new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(
        'systemd-analyze',
        ['--user', 'verify', file],
        // systemd-analyze --user needs a runtime directory; a user manager need not run.
        { env: { PATH: '/usr/bin:/bin', XDG_RUNTIME_DIR: dir, HOME: dir } },
        (error, _stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stderr }),
      );
    });
  }

  it('is the valid example, unit for unit', () => {
    expect(systemdUnit(spec)).toBe(
      [
        '# Written by "cvmweb service install"; "cvmweb service uninstall" removes it.',
        '[Unit]',
        'Description=cvmweb web bridge: lets web pages you allow run virtual machines here',
        '',
        '[Service]',
        'Type=simple',
        'ExecStart="/usr/bin/node" "/opt/cvmweb/dist/bin.js" "serve" "--port" "5624"',
        'Restart=on-failure',
        'RestartSec=10',
        '',
        '[Install]',
        'WantedBy=default.target',
        '',
      ].join('\n'),
    );
  });

  it('passes systemd-analyze verify with no warning, and verify does catch a bad unit', async () => {
    const script = join(dir, 'a dir %with$ odd', 'bin.js');
    const good = join(dir, 'cvmweb.service');
    await writeFile(good, systemdUnit({ ...spec, command: [process.execPath, script, 'serve', ...awkward] }));
    expect(await verify(good)).toEqual({ code: 0, stderr: '' });
    // The checker is not blind: a program that does not exist, and an unknown key, are reported.
    const bad = join(dir, 'bad.service');
    await writeFile(
      bad,
      systemdUnit({ ...spec, command: ['/nonexistent/node'] }).replace('Type=simple', 'Tipe=simple'),
    );
    const result = await verify(bad);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('/nonexistent/node');
    expect(result.stderr).toContain("Unknown key 'Tipe'");
  });

  it('quotes every argument so ExecStart reads back the same; control characters are refused', () => {
    const command = ['/usr/bin/node', ...awkward];
    expect(parseExecStart(systemdUnit({ ...spec, command }))).toEqual(command);
    expect(quoteSystemdArgument('100% $HOME')).toBe('"100%% $$HOME"');
    expect(() => quoteSystemdArgument('a\nExecStartPre=/bin/rm')).toThrow(/control characters/);
  });
});

describe('launchd LaunchAgent', () => {
  it('is a real property list equal to the valid example', () => {
    const text = launchdPlist(spec);
    expect(text).toMatch(
      /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<!DOCTYPE plist PUBLIC "-\/\/Apple\/\/DTD PLIST 1\.0\/\/EN"/,
    );
    // The valid example, as Apple documents a LaunchAgent (launchd.plist(5)), parsed by the same library.
    const example = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key><string>cvmweb.serve</string>
  <key>ProgramArguments</key>
  <array>
    <string>/usr/bin/node</string><string>/opt/cvmweb/dist/bin.js</string>
    <string>serve</string><string>--port</string><string>5624</string>
  </array>
  <key>RunAtLoad</key><true/>
  <key>KeepAlive</key><dict><key>SuccessfulExit</key><false/></dict>
  <key>StandardOutPath</key><string>/home/ada/Library/Logs/cvmweb-serve.log</string>
  <key>StandardErrorPath</key><string>/home/ada/Library/Logs/cvmweb-serve.log</string>
  <key>EnvironmentVariables</key><dict><key>PATH</key><string>/usr/local/bin:/usr/bin:/bin</string></dict>
</dict>
</plist>
`;
    expect(parse(text)).toEqual(parse(example));
  });

  it('keeps awkward arguments as they are and knows its own file from another', () => {
    const command = ['/usr/bin/node', ...awkward];
    expect(parseLaunchdArguments(launchdPlist({ ...spec, command }))).toEqual(command);
    expect(
      parseLaunchdArguments(launchdPlist(spec).replace('cvmweb.serve', 'com.other.agent')),
    ).toBeUndefined();
    expect(parseLaunchdArguments('not a plist')).toBeUndefined();
  });
});

describe('Task Scheduler logon task', () => {
  function parseStrict(text: string) {
    return new DOMParser({
      onError: (level, message) => {
        throw new Error(`${level}: ${message}`);
      },
    }).parseFromString(text, MIME_TYPE.XML_TEXT);
  }
  const children = (element: Element) =>
    [...element.childNodes].filter((node): node is Element => node.nodeType === node.ELEMENT_NODE);
  /** Every element as its path and text (leaves), in document order. */
  function outline(element: Element, prefix = ''): string[] {
    const path = `${prefix}/${element.localName}`;
    const kids = children(element);
    const attributes = [...element.attributes]
      .filter((attribute) => attribute.name !== 'xmlns')
      .map((attribute) => `@${attribute.name}=${attribute.value}`);
    const self = `${path}${attributes.length ? ` ${attributes.join(' ')}` : ''}`;
    return kids.length === 0
      ? [`${self} = ${element.textContent ?? ''}`]
      : [self, ...kids.flatMap((kid) => outline(kid, path))];
  }

  // The valid example: a logon task in the layout of Microsoft's "Logon Trigger Example (XML)"
  // (Task Scheduler schema 1.2) with the settings a service needs.
  const example = `<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Source>cvmweb service install</Source>
    <Description>cvmweb web bridge: lets web pages you allow run virtual machines here</Description>
    <URI>\\cvmweb</URI>
  </RegistrationInfo>
  <Triggers>
    <LogonTrigger><Enabled>true</Enabled><UserId>HOST\\ada</UserId></LogonTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
      <UserId>HOST\\ada</UserId><LogonType>InteractiveToken</LogonType><RunLevel>LeastPrivilege</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <AllowHardTerminate>true</AllowHardTerminate>
    <StartWhenAvailable>false</StartWhenAvailable>
    <RunOnlyIfNetworkAvailable>false</RunOnlyIfNetworkAvailable>
    <AllowStartOnDemand>true</AllowStartOnDemand>
    <Enabled>true</Enabled>
    <Hidden>false</Hidden>
    <RunOnlyIfIdle>false</RunOnlyIfIdle>
    <WakeToRun>false</WakeToRun>
    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>
    <Priority>7</Priority>
    <RestartOnFailure><Interval>PT1M</Interval><Count>3</Count></RestartOnFailure>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>/usr/bin/node</Command>
      <Arguments>/opt/cvmweb/dist/bin.js serve --port 5624</Arguments>
    </Exec>
  </Actions>
</Task>
`;

  it('has the structure of the valid example, element for element and in order', () => {
    const ours = parseStrict(taskSchedulerXml(spec)).documentElement as Element;
    const theirs = parseStrict(example).documentElement as Element;
    expect(ours.namespaceURI).toBe(TASK_NAMESPACE);
    expect(outline(ours)).toEqual(outline(theirs));
    // Schema rules an example cannot show: the Actions' Context names a Principal's id.
    const principal = ours.getElementsByTagNameNS(TASK_NAMESPACE, 'Principal')[0];
    const actions = ours.getElementsByTagNameNS(TASK_NAMESPACE, 'Actions')[0];
    expect(actions?.getAttribute('Context')).toBe(principal?.getAttribute('id'));
  });

  it('escapes what it is given (built by xmldom) and reads its command back; UTF-16 with a BOM on disk', () => {
    const user = 'HOST\\<a&b>';
    const command = ['C:\\Program Files\\nodejs\\node.exe', ...awkward];
    const text = taskSchedulerXml({ ...spec, user, command });
    const document = parseStrict(text);
    expect(document.getElementsByTagNameNS(TASK_NAMESPACE, 'UserId')[0]?.textContent).toBe(user);
    expect(parseTaskCommand(text)).toEqual(command);
    const bytes = taskFileBytes(text);
    expect([...bytes.subarray(0, 2)]).toEqual([0xff, 0xfe]);
    expect(taskFileText(bytes)).toBe(text);
    expect(parseTaskCommand(text.replace('cvmweb service install', 'someone else'))).toBeUndefined();
  });

  it('quotes Windows arguments the way the C runtime splits them', () => {
    const args = [...awkward, '', 'plain', 'a"b', '"', '\\"', 'C:\\dir with space\\'];
    expect(splitWindowsArguments(args.map(quoteWindowsArgument).join(' '))).toEqual(args);
    expect(quoteWindowsArgument('C:\\a b\\')).toBe('"C:\\a b\\\\"');
    expect(quoteWindowsArgument('plain')).toBe('plain');
    // Read as the C runtime reads a line someone else wrote.
    expect(splitWindowsArguments('a\\\\\\"b "c d" e""f "g""h"')).toEqual(['a\\"b', 'c d', 'ef', 'g"h']);
  });
});
