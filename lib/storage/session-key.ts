/**
 * The key scheme: how sessions of apps and their subsessions are named in
 * the store and the coordinator, and the names allowed in it. The one home
 * of these rules (docs/architecture.md, "Keys"):
 *
 * - `<id>` — a session of the default app, exactly where express-session keeps
 *   its record (so migrating keeps users logged in);
 * - `<id>:<app>` — a session of another app;
 * - `<key>#<name>` — a subsession of the session stored under `<key>`.
 *
 * Ids are base64url and app and subsession names cannot contain `:` or `#`,
 * so keys never collide and parse back unambiguously.
 */

/** The app of `middleware()` without an `app` option. */
export const DEFAULT_APP = 'default';

/** Characters of an id (base64url, as ours and express-session's uid-safe ids are). */
const ID_CHARS = 'A-Za-z0-9_-';
/** Characters of an app or subsession name. */
const NAME_CHARS = 'A-Za-z0-9_.-';

/** A session id a client may send: 1–128 base64url characters. */
export const SESSION_ID = new RegExp(`^[${ID_CHARS}]{1,128}$`);
/** An app name (`middleware({ app })`): 1–64 letters, digits, `_ . -`. */
export const APP_NAME = new RegExp(`^[${NAME_CHARS}]{1,64}$`);
/** A subsession name (`getSubsession(name)`): the same characters as an app name. */
export const SUBSESSION_NAME = APP_NAME;
/** A top-level session key, `<id>` or `<id>:<app>` (what an admin cursor carries). */
export const SESSION_KEY = new RegExp(`^[${ID_CHARS}]{1,128}(:[${NAME_CHARS}]{1,64})?$`);

/** Store key of an app's session. */
export function sessionKey(app: string, id: string): string {
  return app === DEFAULT_APP ? id : `${id}:${app}`;
}

/**
 * Store key of a subsession. Its record and coordinator entry are its own,
 * so it expires on its own schedule.
 */
export function subsessionKey(parentKey: string, name: string): string {
  return `${parentKey}#${name}`;
}

/** Whether `key` names a subsession. */
export function isSubsessionKey(key: string): boolean {
  return key.includes('#');
}

/** The key of a subsession's parent; `undefined` for a top-level key. */
export function parentKeyOf(key: string): string | undefined {
  const hash = key.indexOf('#');
  return hash < 0 ? undefined : key.slice(0, hash);
}

/** The app, id and subsession name of a key (the inverse of the two above). */
export function parseSessionKey(key: string): { id: string; app: string; subsession?: string } {
  const hash = key.indexOf('#');
  const session = hash < 0 ? key : key.slice(0, hash);
  const colon = session.indexOf(':');
  const parsed = colon < 0 ? { id: session, app: DEFAULT_APP } : { id: session.slice(0, colon), app: session.slice(colon + 1) };
  return hash < 0 ? parsed : { ...parsed, subsession: key.slice(hash + 1) };
}
