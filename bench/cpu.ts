/**
 * CPU time of processes from /proc (Linux): user + system seconds, summed over the pids given (each process's
 * threads included). The bench reads it before and after a step to report CPU per call.
 */
import { readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100;

export function cpuSeconds(pids: readonly number[]): number {
  const { user, system } = cpuSplit(pids);
  return user + system;
}

/** User and system seconds apart (system time includes the loopback delivery of what the process sends). */
export function cpuSplit(pids: readonly number[]): { user: number; system: number } {
  let user = 0;
  let system = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces and parentheses): utime is the 14th, stime the 15th.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      user += Number(fields[11]);
      system += Number(fields[12]);
    } catch {
      // exited
    }
  }
  return { user: user / TICKS_PER_SECOND, system: system / TICKS_PER_SECOND };
}
