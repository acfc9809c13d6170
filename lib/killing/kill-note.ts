import type { DestroyReason } from '../manager/events';

/**
 * Why a session was killed, kept with the coordinator's kill mark so that
 * whichever request destroys it later — in any process — announces it the
 * same way (docs/architecture.md, "Killing"): `killed` by an administrator
 * (and who, when known), or `evicted` by `maxSessionsPerPrincipal`.
 */
export interface KillNote {
  reason: Extract<DestroyReason, 'killed' | 'evicted'>;
  /** The administrator's principal. */
  by?: string;
}

/** The note as the coordinator keeps it: `evicted`, `killed`, or `killed:<by>`. */
export function encodeKillNote(note: KillNote): string {
  return note.by === undefined ? note.reason : `${note.reason}:${note.by}`;
}

/** A kept note read back; a mark without one (or an unknown one) is an administrator's kill. */
export function decodeKillNote(text: string | undefined): KillNote {
  if (text === undefined || text === '') return { reason: 'killed' };
  const colon = text.indexOf(':');
  const reason = colon < 0 ? text : text.slice(0, colon);
  const by = colon < 0 ? undefined : text.slice(colon + 1);
  if (reason !== 'evicted' && reason !== 'killed') return { reason: 'killed' };
  return by === undefined ? { reason } : { reason, by };
}
