/**
 * Apps for tests: the examples in examples/apps run as real child processes (what a user runs), and one SIP
 * INVITE placed and read back with the test UA. An app process is ready once it printed "connected".
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { packagePath } from '../../core/paths.js';
import { detectRuntime, launchCommand, type RuntimeName } from '../../core/runtime/detect.js';
import { isRequest, type SipResponse } from '../../core/sip/types.js';
import { TestUA, requestText } from './ua.js';
import { waitFor } from './wait.js';

export const APP_TOKEN = 'test-app-token-0123456789';

export interface AppProcess {
  child: ChildProcess;
  output(): string;
  /** SIGTERM (graceful) by default; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Resolves once the output contains `text`. */
  saw(text: string, timeoutMs?: number): Promise<void>;
}

/** How to run a script on `runtime` (default: the one running the tests), with the project's own bun and deno. */
function scriptCommand(runtime: RuntimeName | undefined): [string, string[]] {
  if (runtime === undefined || runtime === detectRuntime()) {
    const launch = launchCommand({ nodeFlags: ['--enable-source-maps'] });
    return [launch.command, launch.args.filter((a) => a !== '--no-node-snapshot')];
  }
  if (runtime === 'bun') return [packagePath('node_modules', '.bin', 'bun'), []];
  if (runtime === 'deno') return [packagePath('node_modules', '.bin', 'deno'), ['run', '-A']];
  return ['node', []];
}

/**
 * Run `examples/apps/<example>.js` with `env` (on `runtime`, default this one); resolves once it printed
 * "connected" (unless `waitConnected` is false).
 */
export async function spawnApp(example: string, env: Record<string, string>, options: { waitConnected?: boolean; runtime?: RuntimeName } = {}): Promise<AppProcess> {
  const [command, args] = scriptCommand(options.runtime);
  const child = spawn(command, [...args, packagePath('examples', 'apps', `${example}.js`)], {
    env: { ...process.env, ...env },
    cwd: packagePath(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20000)));
  child.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const handle: AppProcess = {
    child,
    output: () => output,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
    saw: async (text, timeoutMs = 10_000) => {
      try {
        await waitFor(() => output.includes(text) || child.exitCode !== null, { timeoutMs });
      } catch {
        throw new Error(`app ${example} did not print "${text}" within ${timeoutMs} ms:\n${output}`);
      }
      if (!output.includes(text)) throw new Error(`app ${example} exited before printing "${text}":\n${output}`);
    },
  };
  if (options.waitConnected !== false) await handle.saw('connected');
  return handle;
}

/** Send one INVITE from `ua` to routr and return the final response (ACKing a non-2xx as a UAC must). */
export async function invite(ua: TestUA, sipPort: number, options: { user?: string; timeoutMs?: number } = {}): Promise<SipResponse> {
  const callId = `apps-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const uri = `sip:${options.user ?? '1000'}@127.0.0.1:${sipPort}`;
  const text = requestText({ method: 'INVITE', uri, ua, callId });
  ua.send(text, { host: '127.0.0.1', port: sipPort });
  const got = await ua.waitFor((m) => !isRequest(m) && m.status >= 200 && m.headers['call-id'] === callId, options.timeoutMs ?? 5000);
  const response = got.message as SipResponse;
  if (response.status >= 300) {
    const via = /^Via: .*$/m.exec(text)?.[0] ?? '';
    const toTag = response.headers.to.params.tag;
    ua.send(
      [`ACK ${uri} SIP/2.0`, via, 'Max-Forwards: 70', /^From: .*$/m.exec(text)?.[0], `To: <${uri}>${toTag ? `;tag=${toTag}` : ''}`, `Call-ID: ${callId}`, 'CSeq: 1 ACK', 'Content-Length: 0', '', ''].join('\r\n'),
      { host: '127.0.0.1', port: sipPort },
    );
  }
  return response;
}

/** Place INVITEs until one is answered `status` (an app reconnecting, hosts hearing of it), or fail after `timeoutMs`. */
export async function untilAnswered(ua: TestUA, sipPort: number, status: number, timeoutMs = 15_000): Promise<SipResponse> {
  const deadline = Date.now() + timeoutMs;
  let last: string = 'nothing';
  while (Date.now() < deadline) {
    try {
      const response = await invite(ua, sipPort, { timeoutMs: 4000 });
      if (response.status === status) return response;
      last = `${response.status} ${response.reason}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no INVITE answered ${status} within ${timeoutMs} ms (last: ${last})`);
}
