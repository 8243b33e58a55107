/**
 * Unpacks a plugin `.tgz` (as `npm pack` or `tar czf` make it) into a directory, so `routr plugin install` and
 * `routr plugin test` read it like any plugin directory. A plugin is a handful of small text files, so this
 * reads ustar, GNU long names and pax `path` records — no dependency for it — and refuses what a plugin never
 * needs: links, devices, absolute paths, `..`, and archives over 16 MiB unpacked.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, tmpdir, dirname, join, normalize, sep } from '../runtime/files.js';
import { gunzipSync, Buffer } from '../runtime/bytes.js';
import { readPluginDir, type PluginBundle } from '../plugins/bundle.js';

const MAX_UNPACKED_BYTES = 16 * 1024 * 1024;
const BLOCK = 512;

export class ArchiveError extends Error {
  override name = 'ArchiveError';
}

/** The bundle for a plugin directory or a `.tgz` / `.tar.gz` of one. */
export function bundleFromPath(path: string): PluginBundle {
  if (statSync(path).isDirectory()) return readPluginDir(path);
  const dest = mkdtempSync(join(tmpdir(), 'routr-plugin-'));
  try {
    return readPluginDir(unpackPlugin(readFileSync(path), dest));
  } finally {
    rmSync(dest, { recursive: true, force: true });
  }
}

/** Unpack `archive` (gzip-compressed tar) into `dest`; returns the directory holding plugin.yaml. */
export function unpackPlugin(archive: Buffer, dest: string): string {
  let data: Buffer;
  try {
    data = gunzipSync(archive, { maxOutputLength: MAX_UNPACKED_BYTES });
  } catch (err) {
    throw new ArchiveError(`not a gzip archive, or larger than ${MAX_UNPACKED_BYTES} bytes unpacked: ${(err as Error).message}`);
  }
  let offset = 0;
  let longName: string | undefined;
  let paxPath: string | undefined;
  while (offset + BLOCK <= data.length) {
    const header = data.subarray(offset, offset + BLOCK);
    if (header.every((b) => b === 0)) break;
    const size = Number.parseInt(text(header, 124, 12).trim() || '0', 8);
    if (!Number.isSafeInteger(size) || size < 0) throw new ArchiveError(`bad size field at offset ${offset}`);
    const type = String.fromCharCode(header[156] || 0x30);
    const body = data.subarray(offset + BLOCK, offset + BLOCK + size);
    offset += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'L') {
      longName = body.toString('utf8').replace(/\0[\s\S]*$/, '');
      continue;
    }
    if (type === 'x') {
      paxPath = paxRecords(body).path;
      continue;
    }
    if (type === 'g') continue;
    const prefix = text(header, 257, 6).startsWith('ustar') ? text(header, 345, 155) : '';
    const name = paxPath ?? longName ?? (prefix ? `${prefix}/${text(header, 0, 100)}` : text(header, 0, 100));
    longName = paxPath = undefined;
    const target = safePath(dest, name);
    if (type === '5') mkdirSync(target, { recursive: true });
    else if (type === '0' || type === '7') {
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, body);
    } else throw new ArchiveError(`${name}: links and special files are not allowed in a plugin archive`);
  }
  return pluginRoot(dest);
}

/** plugin.yaml at the top, or inside the archive's single top directory (`package/` from npm pack). */
function pluginRoot(dest: string): string {
  if (existsFile(join(dest, 'plugin.yaml'))) return dest;
  const entries = readdirSync(dest);
  if (entries.length === 1 && existsFile(join(dest, entries[0], 'plugin.yaml'))) return join(dest, entries[0]);
  throw new ArchiveError('no plugin.yaml at the top of the archive or in its single top directory');
}

function existsFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function safePath(dest: string, name: string): string {
  const clean = normalize(name);
  if (clean.startsWith(sep) || clean.split(sep).includes('..') || /^[A-Za-z]:/.test(clean)) {
    throw new ArchiveError(`${name}: paths must stay inside the archive`);
  }
  return join(dest, clean);
}

function text(block: Buffer, start: number, length: number): string {
  return block.toString('utf8', start, start + length).replace(/\0[\s\S]*$/, '');
}

/** pax extended header records: `<length> <key>=<value>\n`. */
function paxRecords(body: Buffer): Record<string, string> {
  const records: Record<string, string> = {};
  for (const line of body.toString('utf8').split('\n')) {
    const match = /^\d+ ([^=]+)=(.*)$/.exec(line);
    if (match) records[match[1]] = match[2];
  }
  return records;
}
