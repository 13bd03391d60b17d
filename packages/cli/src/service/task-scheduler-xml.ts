import {
  DOMImplementation,
  DOMParser,
  type Document,
  type Element,
  MIME_TYPE,
  XMLSerializer,
} from '@xmldom/xmldom';
import { checkServiceText, type ServiceSpec } from './service-spec.js';
import { quoteWindowsArgument, splitWindowsArguments } from './windows-arguments.js';

/** The task's name in Task Scheduler (`schtasks /TN cvmweb`). */
export const TASK_NAME = 'cvmweb';

/** The Task Scheduler schema's namespace. */
export const TASK_NAMESPACE = 'http://schemas.microsoft.com/windows/2004/02/mit/task';

/** `RegistrationInfo/Source` of the task: how `uninstall` knows the file is its own. */
const SOURCE = 'cvmweb service install';

/** An element: its name, then its text or its children, then its attributes. */
type Node = readonly [name: string, content: string | readonly Node[], attributes?: Record<string, string>];

function append(document: Document, parent: Element, [name, content, attributes]: Node, depth: number): void {
  const element = document.createElementNS(TASK_NAMESPACE, name);
  for (const [key, value] of Object.entries(attributes ?? {})) element.setAttribute(key, value);
  parent.appendChild(document.createTextNode(`\n${'  '.repeat(depth)}`));
  if (typeof content === 'string') element.appendChild(document.createTextNode(content));
  else {
    for (const child of content) append(document, element, child, depth + 1);
    element.appendChild(document.createTextNode(`\n${'  '.repeat(depth)}`));
  }
  parent.appendChild(element);
}

/**
 * A Task Scheduler task (XML of the Task Scheduler schema 1.2, built with xmldom) that runs
 * `spec.command` when `spec.user` logs on, with that user's rights and no time limit, restarted
 * after a failure, as `schtasks /Create /XML` registers it. The text declares UTF-16: write it so
 * ({@link taskFileBytes}).
 */
export function taskSchedulerXml(spec: ServiceSpec): string {
  const [program = '', ...args] = spec.command.map((arg) => checkServiceText(arg, 'a service argument'));
  const user = checkServiceText(spec.user ?? '', 'the Windows user');
  const document = new DOMImplementation().createDocument(TASK_NAMESPACE, 'Task', null);
  const task = document.documentElement as Element;
  task.setAttribute('version', '1.2');
  const nodes: Node[] = [
    [
      'RegistrationInfo',
      [
        ['Source', SOURCE],
        ['Description', 'cvmweb web bridge: lets web pages you allow run virtual machines here'],
        ['URI', `\\${TASK_NAME}`],
      ],
    ],
    [
      'Triggers',
      [
        [
          'LogonTrigger',
          [
            ['Enabled', 'true'],
            ['UserId', user],
          ],
        ],
      ],
    ],
    [
      'Principals',
      [
        [
          'Principal',
          [
            ['UserId', user],
            ['LogonType', 'InteractiveToken'],
            ['RunLevel', 'LeastPrivilege'],
          ],
          { id: 'Author' },
        ],
      ],
    ],
    [
      'Settings',
      [
        ['MultipleInstancesPolicy', 'IgnoreNew'],
        ['DisallowStartIfOnBatteries', 'false'],
        ['StopIfGoingOnBatteries', 'false'],
        ['AllowHardTerminate', 'true'],
        ['StartWhenAvailable', 'false'],
        ['RunOnlyIfNetworkAvailable', 'false'],
        ['AllowStartOnDemand', 'true'],
        ['Enabled', 'true'],
        ['Hidden', 'false'],
        ['RunOnlyIfIdle', 'false'],
        ['WakeToRun', 'false'],
        // A service: no time limit (the default stops a task after 72 hours).
        ['ExecutionTimeLimit', 'PT0S'],
        ['Priority', '7'],
        [
          'RestartOnFailure',
          [
            ['Interval', 'PT1M'],
            ['Count', '3'],
          ],
        ],
      ],
    ],
    [
      'Actions',
      [
        [
          'Exec',
          [
            ['Command', program],
            ['Arguments', args.map(quoteWindowsArgument).join(' ')],
          ],
        ],
      ],
      { Context: 'Author' },
    ],
  ];
  for (const node of nodes) append(document, task, node, 1);
  task.appendChild(document.createTextNode('\n'));
  return `<?xml version="1.0" encoding="UTF-16"?>\n${new XMLSerializer().serializeToString(document)}\n`;
}

/** The bytes of the task file: UTF-16 little-endian with a byte-order mark, as Windows writes tasks. */
export function taskFileBytes(xml: string): Buffer {
  return Buffer.from(`\ufeff${xml}`, 'utf16le');
}

/** The text of a task file (UTF-16 with a byte-order mark, or UTF-8). */
export function taskFileText(bytes: Buffer): string {
  return bytes[0] === 0xff && bytes[1] === 0xfe
    ? bytes.subarray(2).toString('utf16le')
    : bytes.toString('utf8');
}

/** The command line of a task this module wrote, or `undefined` for another file. */
export function parseTaskCommand(text: string): string[] | undefined {
  try {
    const document = new DOMParser({
      onError: (level, message) => {
        throw new Error(`${level}: ${message}`);
      },
    }).parseFromString(text, MIME_TYPE.XML_TEXT);
    const first = (name: string) => document.getElementsByTagNameNS(TASK_NAMESPACE, name)[0]?.textContent;
    if (first('Source') !== SOURCE) return undefined;
    const program = first('Command');
    return program ? [program, ...splitWindowsArguments(first('Arguments') ?? '')] : undefined;
  } catch {
    return undefined;
  }
}
