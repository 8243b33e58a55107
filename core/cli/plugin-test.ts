/**
 * `routr plugin test <dir|.tgz>`: run a plugin's fixtures locally, in the same sandbox engine and through the
 * same processor/middleware shims a host uses, with no server: the check an install makes, for authors. It
 * offers the capabilities that need no server (see `localCapabilities`); a plugin asking for another is
 * reported as such.
 */
import { createEngine, SANDBOX_ENGINE_CHOICES, type SandboxEngineChoice } from '../../sandbox/index.js';
import { UsageError } from './usage.js';
import { localCapabilities, runFixtures } from '../host/fixtures.js';
import { loadedFromBundle } from '../plugins/bundle.js';
import { bundleFromPath } from './tgz.js';
import { writeStderr, writeStdout } from '../runtime/process.js';

export async function runPluginTest(path: string, options: { json: boolean; engine?: string }): Promise<number> {
  const choice = options.engine ?? 'auto';
  if (!SANDBOX_ENGINE_CHOICES.includes(choice as SandboxEngineChoice)) {
    throw new UsageError(`--engine must be one of ${SANDBOX_ENGINE_CHOICES.join(', ')}`);
  }
  let plugin;
  try {
    plugin = loadedFromBundle(bundleFromPath(path), { origin: 'directory', location: path });
  } catch (err) {
    writeStderr(`routr: ${(err as Error).message}\n`);
    return 1;
  }
  const { ref } = plugin.manifest;
  const version = plugin.manifest.metadata.version;
  let results;
  try {
    results = await runFixtures(plugin, { engine: createEngine({ engine: choice as SandboxEngineChoice }), capabilities: localCapabilities() });
  } catch (err) {
    writeStderr(`routr: ${ref}@${version} does not load: ${(err as Error).message}\n`);
    return 1;
  }
  const failed = results.filter((r) => !r.ok).length;
  if (options.json) {
    writeStdout(JSON.stringify({ ref, version, passed: results.length - failed, failed, results }, null, 2) + '\n');
    return failed ? 1 : 0;
  }
  writeStdout(`${ref}@${version}\n`);
  for (const r of results) {
    const where = r.file ? `${r.file} ` : '';
    writeStdout(r.ok ? `  ok    ${where}"${r.name}"\n` : `  FAIL  ${where}"${r.name}": ${r.message}\n`);
  }
  if (results.length === 0) writeStdout('  (no fixtures: the plugin compiles and exports what its kind needs)\n');
  writeStdout(`${results.length - failed} passed, ${failed} failed\n`);
  return failed ? 1 : 0;
}
