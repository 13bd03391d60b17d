import { describe, expect, it } from 'vitest';
import { cernvmContextFiles } from './cernvm-context.js';

describe('cernvmContextFiles', () => {
  it('writes CONTEXT.SH with the base64 user data and the amiconfig path', () => {
    const layout = cernvmContextFiles('[amiconfig]\nplugins=cernvm\n');
    expect(layout.volumeId).toBe('CONTEXT_INFO');
    expect(layout.files).toEqual([
      {
        name: 'context.sh',
        data: 'EC2_USER_DATA="W2FtaWNvbmZpZ10KcGx1Z2lucz1jZXJudm0K"\nONE_CONTEXT_PATH="/var/lib/amiconfig"\n',
      },
    ]);
  });

  it('encodes the user data as UTF-8 on one line', () => {
    const userData = `ünïcode ✓\n${'x'.repeat(1000)}`;
    const data = cernvmContextFiles(userData).files[0]?.data;
    expect(typeof data).toBe('string');
    const match = /^EC2_USER_DATA="([A-Za-z0-9+/=]+)"\n/.exec(data as string);
    expect(Buffer.from(match?.[1] ?? '', 'base64').toString('utf8')).toBe(userData);
  });

  it('handles empty user data', () => {
    expect(cernvmContextFiles('').files[0]?.data).toBe(
      'EC2_USER_DATA=""\nONE_CONTEXT_PATH="/var/lib/amiconfig"\n',
    );
  });
});
