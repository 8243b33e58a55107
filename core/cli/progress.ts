/**
 * Progress for operations that take a while (a plugin install runs fixtures on the host; an apply validates a
 * whole set): each step is a line on standard error, so standard output stays what scripts read. On a terminal
 * the current step also shows how long it has been waiting, redrawn once a second.
 */
import { stderrIsTTY, writeStderr } from '../runtime/process.js';

export interface Progress {
  step(text: string): void;
  done(): void;
}

export function progress(options: { quiet?: boolean } = {}): Progress {
  if (options.quiet) return { step() {}, done() {} };
  const tty = stderrIsTTY();
  let timer: ReturnType<typeof setInterval> | undefined;
  let current = '';
  let since = 0;
  const clear = () => {
    clearInterval(timer);
    timer = undefined;
    if (tty && current) writeStderr('\n');
    current = '';
  };
  return {
    step(text) {
      clear();
      current = text;
      since = Date.now();
      writeStderr(`… ${text}${tty ? '' : '\n'}`);
      if (tty) {
        timer = setInterval(() => writeStderr(`\r… ${current} (${Math.round((Date.now() - since) / 1000)} s)`), 1000);
        timer.unref?.();
      }
    },
    done() {
      clear();
    },
  };
}
