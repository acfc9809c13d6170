/**
 * Store key of an app's session. The default app stores under the bare id,
 * exactly where express-session keeps its record (so migrating keeps users
 * logged in); any other app under `<id>:<app>`. App names cannot contain `:`,
 * and ids are base64url, so keys never collide.
 */
export function sessionKey(app: string, id: string): string {
  return app === 'default' ? id : `${id}:${app}`;
}

/** The app and id of a session key (the inverse of {@link sessionKey}). */
export function parseSessionKey(key: string): { id: string; app: string } {
  const colon = key.indexOf(':');
  return colon < 0 ? { id: key, app: 'default' } : { id: key.slice(0, colon), app: key.slice(colon + 1) };
}
