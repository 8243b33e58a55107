/**
 * Regular expressions from plugin authors, matched in linear time. A plugin's `configSchema` is compiled and
 * run by ajv on the host thread, where a catastrophic pattern (`^(a+)+$` against 40 `a`s and a `!`) would
 * freeze every request: V8's backtracking engine has no time limit. RE2 semantics (the `re2js` port, pure
 * JavaScript, so it runs on Node, Bun and Deno alike) never backtrack; the price is that look-arounds and
 * back-references are refused, at install time, with the pattern named.
 */
import { RE2JS } from 're2js';

export interface LinearRegExp {
  test(input: string): boolean;
  toString(): string;
}

/** ajv's `code.regExp` hook: `flags` is ajv's ('u' by default; RE2 is Unicode-aware anyway). */
export function linearRegExp(pattern: string, flags?: string): LinearRegExp {
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(toRe2Syntax(pattern), flags?.includes('i') ? RE2JS.CASE_INSENSITIVE : 0);
  } catch (err) {
    // re2js says "error parsing regexp: invalid escape sequence: `\1`": name the pattern and why RE2.
    throw new Error(`pattern ${JSON.stringify(pattern)} is not accepted (patterns in a plugin's configSchema use RE2 syntax, matched in linear time: no look-arounds or back-references): ${(err as Error).message}`);
  }
  // ajv shares compiled patterns by `toString()`: it must name the pattern (a plain object's would make every
  // pattern of a schema the first one compiled).
  return { test: (input: string) => compiled.matcher(input).find(), toString: () => `/${pattern}/${flags ?? ''}` };
}
/**
 * JSON Schema patterns are ECMA-262 regular expressions; the one ECMA escape RE2 spells differently is the code
 * point: `\uFFFF` and `\u{1F600}` become RE2's `\x{FFFF}`. Escaped backslashes are copied as they are.
 */
function toRe2Syntax(pattern: string): string {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c !== '\\' || i + 1 >= pattern.length) {
      out += c;
      continue;
    }
    const next = pattern[i + 1];
    const braced = next === 'u' ? /^\{([0-9A-Fa-f]{1,6})\}/.exec(pattern.slice(i + 2)) : null;
    const four = next === 'u' && !braced ? /^[0-9A-Fa-f]{4}/.exec(pattern.slice(i + 2)) : null;
    if (braced) {
      out += `\\x{${braced[1]}}`;
      i += 1 + braced[0].length;
    } else if (four) {
      out += `\\x{${four[0]}}`;
      i += 5;
    } else {
      out += c + next;
      i++;
    }
  }
  return out;
}

// ajv's standalone code generation asks the hook for its source; routr never generates standalone validators.
linearRegExp.code = 'linearRegExp';
