import { createInterface } from 'node:readline';
import type { ConsentPrompter } from './consent-broker.js';
import type { ConsentDecision } from './consent-decision.js';

const answers: Readonly<Record<string, ConsentDecision>> = {
  y: 'allow-once',
  yes: 'allow-once',
  a: 'allow-always',
  always: 'allow-always',
  n: 'deny',
  no: 'deny',
  never: 'deny-always',
};

/**
 * A consent prompt on the terminal `serve` runs in (a channel no page can
 * reach): `y` allow, `a` allow and don't ask again, `n` deny, `never` always
 * deny. Prompts are asked one at a time; a request decided elsewhere (the
 * consent page) withdraws its prompt.
 */
export function terminalPrompter(
  input: NodeJS.ReadableStream,
  output: (text: string) => void,
): ConsentPrompter {
  let queue: Promise<unknown> = Promise.resolve();
  return (request, signal) => {
    const asked = queue.then(
      () =>
        new Promise<ConsentDecision | undefined>((resolve) => {
          if (signal.aborted) return resolve(undefined);
          const rl = createInterface({ input, terminal: false });
          const finish = (decision: ConsentDecision | undefined) => {
            signal.removeEventListener('abort', onAbort);
            rl.close();
            resolve(decision);
          };
          const onAbort = () => {
            output('\n(decided on the consent page)\n');
            finish(undefined);
          };
          signal.addEventListener('abort', onAbort, { once: true });
          output(
            `\n${request.origin} wants to run virtual machines on this computer (session ${request.names.join(', ')}).\n` +
              'Allow? [y] yes  [a] always  [n] no  [never] always deny: ',
          );
          rl.on('line', (line) => {
            const decision = answers[line.trim().toLowerCase()];
            if (decision) finish(decision);
            else output('Answer y, a, n or never: ');
          });
        }),
    );
    queue = asked.catch(() => undefined);
    return asked;
  };
}
