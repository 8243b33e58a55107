/**
 * `npm run test:bun` and `npm run test:deno`: the same compiled suite (`dist/test/**\/*.test.js`, node:test
 * files) under Bun's or Deno's own test runner, one process per file as `node --test` does, so a file that
 * leaves state behind cannot change the next one. routr processes the tests start run on that runtime too
 * (test/helpers/runtime.ts). Prints each file's outcome, then `N passed, N failed` over the files' tests.
 *
 *   node dist/test/runtime-suite.js bun|deno [file or directory ...]
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { packagePath } from '../core/paths.js';

type Runner = 'bun' | 'deno';

const FILE_TIMEOUT_MS = 15 * 60_000;

function testFiles(paths: string[]): string[] {
  return paths.flatMap((path) => {
    if (!statSync(path).isDirectory()) return [path];
    return readdirSync(path)
      .sort()
      .flatMap((name) => {
        const full = join(path, name);
        if (statSync(full).isDirectory()) return testFiles([full]);
        return name.endsWith('.test.js') ? [full] : [];
      });
  });
}

function command(runner: Runner, file: string): [string, string[]] {
  const bin = packagePath('node_modules', '.bin', runner);
  // Bun's default is 5 s a test and Deno's none; the suite's own timeouts (node:test options) decide.
  if (runner === 'bun') return [bin, ['test', '--timeout', '600000', file]];
  return [bin, ['test', '-A', '--no-check', file]];
}

interface Outcome {
  passed: number;
  failed: number;
  skipped: number;
}

/** The runner's own closing counts: Bun prints ` N pass` / ` N fail` / ` N skip`, Deno `N passed (M steps) | N failed`. */
function countsOf(runner: Runner, output: string): Outcome {
  const text = output.replace(/\x1b\[[0-9;]*m/g, '');
  const number = (pattern: RegExp): number => Number(pattern.exec(text)?.[1] ?? 0);
  if (runner === 'bun') {
    return { passed: number(/^\s*(\d+) pass$/m), failed: number(/^\s*(\d+) fail$/m), skipped: number(/^\s*(\d+) skip$/m) };
  }
  const summary = /^(?:ok|FAILED) \| (\d+) passed(?: \((\d+) steps\))? \| (\d+) failed(?: \((\d+) steps\))?/m.exec(text);
  // Deno counts node:test suites as tests and their tests as steps; report tests (steps) when there are any.
  const passed = Number(summary?.[2] ?? summary?.[1] ?? 0);
  const failed = Number(summary?.[4] ?? summary?.[3] ?? 0);
  return { passed, failed, skipped: (text.match(/\.\.\. ignored/g) ?? []).length };
}

function run(runner: Runner, file: string): Promise<{ code: number | null; output: string; ms: number }> {
  const started = Date.now();
  const [bin, args] = command(runner, file);
  return new Promise((resolve) => {
    const child = spawn(bin, args, { cwd: packagePath(), stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), FILE_TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output, ms: Date.now() - started });
    });
  });
}

async function main(): Promise<number> {
  const [runner, ...paths] = process.argv.slice(2);
  if (runner !== 'bun' && runner !== 'deno') {
    process.stderr.write('usage: node dist/test/runtime-suite.js bun|deno [file or directory ...]\n');
    return 2;
  }
  const files = testFiles(paths.length > 0 ? paths : [packagePath('dist', 'test')]);
  const total: Outcome = { passed: 0, failed: 0, skipped: 0 };
  const failedFiles: string[] = [];
  const started = Date.now();
  for (const file of files) {
    const { code, output, ms } = await run(runner, file);
    const counts = countsOf(runner, output);
    const name = relative(packagePath(), file);
    // A file that crashed before counting anything still counts as one failure.
    if (code !== 0 && counts.failed === 0) counts.failed = 1;
    total.passed += counts.passed;
    total.failed += counts.failed;
    total.skipped += counts.skipped;
    const mark = code === 0 ? 'ok  ' : 'FAIL';
    process.stdout.write(`${mark} ${name} (${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped, ${(ms / 1000).toFixed(1)} s)\n`);
    if (code !== 0) {
      failedFiles.push(name);
      process.stdout.write(output.split('\n').slice(-60).map((line) => `     ${line}`).join('\n') + '\n');
    }
  }
  process.stdout.write(`\n${runner}: ${files.length} files in ${((Date.now() - started) / 1000).toFixed(0)} s${failedFiles.length ? `; failed: ${failedFiles.join(', ')}` : ''}\n`);
  process.stdout.write(`${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped\n`);
  return failedFiles.length === 0 ? 0 : 1;
}

main().then((code) => process.exit(code));
