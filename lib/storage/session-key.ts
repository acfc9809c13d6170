/**
 * Store key of an app's session. The default app stores under the bare id,
 * exactly where express-session keeps its record (so migrating keeps users
 * logged in); any other app under `<id>:<app>`. App names cannot contain `:`,
 * and ids are base64url, so keys never collide.
 */
export function sessionKey(app: string, id: string): string {
  return app === 'default' ? id : `${id}:${app}`;
}

/**
 * Store key of a subsession: `<parent key>#<name>` (names cannot contain
 * `#` or `:`). Its record and coordinator entry are its own, so it expires
 * on its own schedule.
 */
export function subsessionKey(parentKey: string, name: string): string {
  return `${parentKey}#${name}`;
}

/** The app, id and subsession name of a key (the inverse of the two above). */
export function parseSessionKey(key: string): { id: string; app: string; subsession?: string } {
  const hash = key.indexOf('#');
  const session = hash < 0 ? key : key.slice(0, hash);
  const colon = session.indexOf(':');
  const parsed = colon < 0 ? { id: session, app: 'default' } : { id: session.slice(0, colon), app: session.slice(colon + 1) };
  return hash < 0 ? parsed : { ...parsed, subsession: key.slice(hash + 1) };
}
