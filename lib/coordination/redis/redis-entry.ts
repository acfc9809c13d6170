import type { AccessEntry } from '../coordinator';

/** An entry from a script's reply (`entryOf` in scripts.lua: accessed, deadline, store, active, claimed, killed, version, note), or `undefined`. */
export function toAccessEntry(reply: unknown): AccessEntry | undefined {
  if (!Array.isArray(reply)) return undefined;
  const [accessed, deadline, store, active, claimed, killed, version, note] = reply as (string | null)[];
  return {
    lastAccessedTime: Number(accessed),
    deadline: deadline === null || Number(deadline) < 0 ? null : Number(deadline),
    storeExpires: store === null ? null : Number(store),
    active: Number(active ?? 0),
    claimed: claimed === '1',
    killed: killed === '1',
    version: Number(version ?? 0),
    ...(note ? { killNote: note } : {}),
  };
}
