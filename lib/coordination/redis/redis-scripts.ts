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
  | 'load'
  | 'leave'
  | 'write'
  | 'touch'
  | 'read'
  | 'claim'
  | 'inspect'
  | 'kill'
  | 'lock'
  | 'renew'
  | 'lease'
  | 'unlock'
  | 'due'
  | 'remove'
  | 'keys'
  | 'members'
  | 'count'
  | 'admitsession'
  | 'releasesession'
  | 'livecount'
  | 'principalsessions'
  | 'admitprincipal';

/**
 * `scripts.lua` cut at its `--- <name>` lines, each `-- @include <name>`
 * line replaced by that section (the shared functions of `lib`).
 */
function parse(text: string): Map<string, Script> {
  const sections = new Map<string, string>();
  for (const section of text.split(/^--- /m).slice(1)) {
    const newline = section.indexOf('\n');
    sections.set(section.slice(0, newline).trim(), section.slice(newline + 1).trim());
  }
  const scripts = new Map<string, Script>();
  for (const [name, body] of sections) {
    const source = body.replace(/^-- @include (\S+)$/gm, (_line, included: string) => {
      const shared = sections.get(included);
      if (shared === undefined) throw new Error(`scripts.lua: ${name} includes unknown section ${included}`);
      return shared;
    });
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
