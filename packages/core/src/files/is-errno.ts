/** True when `error` is a Node.js system error with errno code `code` (such as `'ENOENT'`). */
export function isErrno(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as NodeJS.ErrnoException).code === code;
}
