/**
 * Where routr's own files live (schemas, built-in plugins, the default config), found from this module's
 * location so it works from a clone, a global install or a container alike.
 */
import { existsSync, dirname, join, fileURLToPath } from './runtime/files.js';

let root: string | undefined;

export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'config', 'schemas'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the routr package root (package.json beside config/schemas)');
    dir = parent;
  }
  root = dir;
  return dir;
}

export function packagePath(...parts: string[]): string {
  return join(packageRoot(), ...parts);
}
