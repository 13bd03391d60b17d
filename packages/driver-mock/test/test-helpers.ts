import { request } from 'node:http';
import type { ImageSource, StartSpec, VmSpec } from '@cvmweb/core';

let serial = 0;

/** A valid VM spec with a unique name, for tests. */
export function vmSpec(overrides: Partial<VmSpec> = {}): VmSpec {
  serial += 1;
  const image: ImageSource = {
    version: 'test',
    context: 'cernvm',
    resolve: () => Promise.reject(new Error('the mock never resolves images')),
  };
  return {
    sessionId: `00000000-0000-4000-a000-${serial.toString(16).padStart(12, '0')}`,
    name: `cvmweb-test-${serial}`,
    cpus: 1,
    ram: 256,
    disk: 0,
    executionCap: 100,
    image,
    directory: `/nonexistent/vm-${serial}`,
    ...overrides,
  };
}

/** What `start()` gets, for tests. */
export function startSpec(userData = 'user data'): StartSpec {
  return { userData, context: { format: 'cernvm', path: '/nonexistent/context.iso', size: 0 } };
}

/** One HTTP request on a fresh connection: the status and body, or the connection error. */
export function httpGet(port: number, path = '/', method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
