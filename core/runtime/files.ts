/**
 * Files, directories, watches and paths: resource files, the plugin store's directory, schemas, certificates.
 * The promise forms are the `node:fs/promises` ones (readFile, writeFile, rename, stat, unlink, readdir).
 */
export { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, statSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
export { readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
export { basename, dirname, extname, isAbsolute, join, normalize, resolve, sep } from 'node:path';
export { fileURLToPath } from 'node:url';
export { tmpdir } from 'node:os';

/** The `code` of a failed file operation (ENOENT, EACCES...), if it has one. */
export function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
