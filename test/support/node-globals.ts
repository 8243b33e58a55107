/**
 * Finds Node globals (`process`, `Buffer`, `NodeJS.*`, `setImmediate`, `require`, `__dirname`, ...) used in a
 * TypeScript source, outside comments and plain string literals. The layer rules catch `node:` imports; this
 * catches the globals a runtime might not have, which no import shows. `Buffer` counts as a global only when
 * the module does not import it (core/runtime/bytes.ts re-exports it).
 */
const GLOBALS = ['process', 'Buffer', 'setImmediate', 'clearImmediate', 'require', '__dirname', '__filename', 'global', 'module'];

/** Blank out comments, string literals and template text (not its `${...}` code), keeping offsets and lines. */
export function codeOnly(source: string): string {
  let out = '';
  let i = 0;
  while (i < source.length) {
    const c = source[i];
    const next = source[i + 1];
    if (c === '/' && next === '/') {
      const end = source.indexOf('\n', i);
      const stop = end === -1 ? source.length : end;
      out += ' '.repeat(stop - i);
      i = stop;
    } else if (c === '/' && next === '*') {
      const end = source.indexOf('*/', i + 2);
      const stop = end === -1 ? source.length : end + 2;
      out += source.slice(i, stop).replace(/[^\n]/g, ' ');
      i = stop;
    } else if (c === '`') {
      let j = i + 1;
      out += '`';
      while (j < source.length && source[j] !== '`') {
        if (source[j] === '\\') {
          out += '  ';
          j += 2;
        } else if (source[j] === '$' && source[j + 1] === '{') {
          let depth = 1;
          let k = j + 2;
          while (k < source.length && depth > 0) {
            if (source[k] === '{') depth++;
            else if (source[k] === '}') depth--;
            k++;
          }
          out += source.slice(j, k);
          j = k;
        } else {
          out += source[j] === '\n' ? '\n' : ' ';
          j++;
        }
      }
      out += '`';
      i = j + 1;
    } else if (c === "'" || c === '"') {
      let j = i + 1;
      while (j < source.length && source[j] !== c && source[j] !== '\n') j += source[j] === '\\' ? 2 : 1;
      out += c + ' '.repeat(Math.max(0, j - i - 1)) + c;
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

export interface GlobalUse {
  name: string;
  line: number;
}

export function nodeGlobalsIn(source: string): GlobalUse[] {
  const code = codeOnly(source);
  const importsBuffer = /^import\s+(type\s+)?\{[^}]*\bBuffer\b[^}]*\}\s+from\s+'[^']*\/runtime\/bytes\.js'/m.test(source);
  const found: GlobalUse[] = [];
  const pattern = new RegExp(`(?<![.\\w$])(${GLOBALS.join('|')}|NodeJS)(?![\\w$])`, 'g');
  for (const match of code.matchAll(pattern)) {
    const name = match[1] as string;
    if (name === 'Buffer' && importsBuffer) continue;
    // `process`, `global`, `module` and `NodeJS` are globals only where something is read off them (a method
    // named process(), `declare global`, an object key `module:` are not); the functions only where called.
    const after = code.slice((match.index ?? 0) + name.length).trimStart();
    if (['process', 'global', 'module', 'NodeJS'].includes(name) && !after.startsWith('.') && !after.startsWith('[')) continue;
    if (['setImmediate', 'clearImmediate', 'require'].includes(name) && !after.startsWith('(')) continue;
    found.push({ name: name === 'NodeJS' ? 'NodeJS.*' : name, line: code.slice(0, match.index).split('\n').length });
  }
  return found;
}
