/**
 * Store key of an app's session. The default app stores under the bare id,
 * exactly where express-session keeps its record (so migrating keeps users
 * logged in); any other app under `<id>:<app>`. App names cannot contain `:`,
 * and ids are base64url, so keys never collide.
 */
export function sessionKey(app: string, id: string): string {
  return app === 'default' ? id : `${id}:${app}`;
}
