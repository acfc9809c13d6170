import { createHash } from 'node:crypto';
import { SCRIPTS_LUA } from './scripts.generated';

/** A Lua script with its SHA1, loaded into Redis on first use (EVALSHA, SCRIPT LOAD on NOSCRIPT). */
export interface Script {
  readonly name: string;
  readonly source: string;
  readonly sha: string;
}

/** The names of the scripts in `scripts.lua`. */
export type ScriptName =
  | 'enter'
  | 'leave'
  | 'claim'
  | 'inspect'
  | 'kill'
  | 'lock'
  | 'renew'
  | 'unlock'
  | 'due'
  | 'remove'
  | 'keys'
  | 'members'
  | 'count';

/** `scripts.lua` cut at its `--- <name>` lines. */
function parse(text: string): Map<string, Script> {
  const scripts = new Map<string, Script>();
  for (const section of text.split(/^--- /m).slice(1)) {
    const newline = section.indexOf('\n');
    const name = section.slice(0, newline).trim();
    const source = section.slice(newline + 1).trim();
    scripts.set(name, { name, source, sha: createHash('sha1').update(source).digest('hex') });
  }
  return scripts;
}

const PARSED = parse(SCRIPTS_LUA);

/** The script called `name`; a missing one is a bug caught by the first test that runs it. */
export function script(name: ScriptName): Script {
  const found = PARSED.get(name);
  if (!found) throw new Error(`scripts.lua has no script "${name}"`);
  return found;
}
