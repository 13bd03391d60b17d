import type { ErrorCodeName } from '@cvmweb/core';
import { hintFor } from './failure-hints.js';
import type { VBoxErrorInfo } from './vbox-error-info.js';

const PREFIX = /^VBoxManage(?:\.exe)?: (error|warning): ?(.*)$/;

/** The `VBoxManage: warning:` lines of an output, without the prefix. */
export function parseWarnings(output: string): string[] {
  const warnings: string[] = [];
  for (const line of output.split(/\r?\n/)) {
    const match = PREFIX.exec(line);
    if (match?.[1] === 'warning') warnings.push(match[2] ?? '');
  }
  return warnings;
}

/**
 * Reads a failure out of a `VBoxManage` run: any `VBoxManage: error:` line (VirtualBox prints
 * some with exit code 0) or a non-zero exit code. Returns `undefined` for a success.
 */
export function parseVBoxError(stderr: string, exitCode: number, stdout = ''): VBoxErrorInfo | undefined {
  const messages: string[] = [];
  let resultCode: string | undefined;
  let hresult: string | undefined;
  let component: string | undefined;
  let context: string | undefined;
  const syntaxLines: string[] = [];
  for (const line of `${stderr}\n${stdout}`.split(/\r?\n/)) {
    const match = PREFIX.exec(line);
    if (!match) {
      if (/^Syntax error: /.test(line)) syntaxLines.push(line);
      continue;
    }
    if (match[1] !== 'error') continue;
    const text = match[2] ?? '';
    const details = /^Details: code (\S+) \((0x[0-9a-fA-F]+)\)(?:, component (\w+))?/.exec(text);
    if (details) {
      resultCode = details[1];
      hresult = details[2]?.toLowerCase();
      component = details[3];
    } else if (text.startsWith('Context: ')) {
      context = text.slice('Context: '.length);
    } else if (text) {
      messages.push(text);
    }
  }
  if (messages.length === 0 && !resultCode && exitCode === 0) return undefined;
  const message = [...messages, ...syntaxLines].join('\n') || `VBoxManage failed with exit code ${exitCode}`;
  const status = /\b(VERR_[A-Z0-9_]+)\b/.exec(message)?.[1];
  return {
    message,
    ...(resultCode ? { resultCode } : {}),
    ...(hresult ? { hresult } : {}),
    ...(component ? { component } : {}),
    ...(context ? { context } : {}),
    ...(status ? { status } : {}),
    syntax: exitCode === 2,
  };
}

/** How a VirtualBox failure is handled: a cvmweb code, or `LOCKED` (retry, then `CONTROL`). */
export type VBoxErrorClass = ErrorCodeName | 'LOCKED';

/**
 * Maps a failure to a cvmweb code: object not found → `NOT_FOUND`, invalid VM state (and
 * "is not currently running") → `INVALID_STATE`, a machine locked by another session → `LOCKED`,
 * file errors → `IO`, host problems ({@link hintFor}: VT-x off or held by KVM/Hyper-V, no kernel
 * driver, VBoxSVC not answering) and usage errors → `EXTERNAL`; anything else gets `fallback`,
 * the code of the action that failed.
 */
export function classifyVBoxError(info: VBoxErrorInfo, fallback: ErrorCodeName): VBoxErrorClass {
  if (info.syntax) return 'EXTERNAL';
  const hint = hintFor(info);
  if (hint && hint.problem !== 'folder-not-writable') return 'EXTERNAL';
  switch (info.resultCode) {
    case 'VBOX_E_OBJECT_NOT_FOUND':
      return 'NOT_FOUND';
    case 'VBOX_E_INVALID_VM_STATE':
      return 'INVALID_STATE';
    case 'VBOX_E_INVALID_OBJECT_STATE':
      return /locked/i.test(info.message) ? 'LOCKED' : 'INVALID_STATE';
    case 'VBOX_E_FILE_ERROR':
    case 'VBOX_E_IPRT_ERROR':
      return 'IO';
  }
  if (/could not find a registered machine/i.test(info.message)) return 'NOT_FOUND';
  if (/is not currently running/i.test(info.message)) return 'INVALID_STATE';
  if (/already locked/i.test(info.message)) return 'LOCKED';
  return fallback;
}

/** A fix for people about a failure VirtualBox explains badly, if there is one. */
export function fixFor(info: VBoxErrorInfo): string | undefined {
  return hintFor(info)?.fix;
}
