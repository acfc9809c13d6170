/** The benchmark configurations: one server process each. */
export const CONFIGS = [
  'express',
  'floor',
  'express-session+memory',
  'esm+memory',
  'express-session+redis',
  'esm+redis',
  'esm+redis+coordinator',
] as const;
export type ConfigName = (typeof CONFIGS)[number];

/** What `run.ts` measures: a read, a write, and a new session per request (`new` sends no cookie). */
export const ROUTES = ['read', 'write', 'new'] as const;
export type RouteName = (typeof ROUTES)[number];

/**
 * Every route a server answers: the routes `run.ts` measures, plus those of
 * `concurrency.ts`: `slow-read` (a 1 ms timer, then the read: a request
 * holds its session across some async work) and `write-own` (sets one of
 * {@link OWN_ATTRIBUTES} attributes, another one for each request, so
 * concurrent requests of one session change different attributes).
 */
export const SERVER_ROUTES = [...ROUTES, 'slow-read', 'write-own'] as const;
export type ServerRoute = (typeof SERVER_ROUTES)[number];

/** How many attributes `POST /write-own` cycles through: `a0` … `a49`, the next one for each request a server answers. */
export const OWN_ATTRIBUTES = 50;

/** The HTTP method of a route. */
export function methodOf(route: ServerRoute): 'GET' | 'POST' {
  return route === 'write' || route === 'write-own' || route === 'new' ? 'POST' : 'GET';
}

/** Per-server settings beyond the configuration (command-line flags of server.ts). */
export interface ServerVariant {
  /** `true` runs this library with `serialAccess: true`. @default false (the library's default) */
  serialAccess?: boolean;
}

/** The flags of server.ts for `variant`. */
export function variantArgs(variant: ServerVariant): string[] {
  return variant.serialAccess ? ['--serial-access=on'] : [];
}

/** What each configuration is, for the tables. */
export const DESCRIPTIONS: Record<ConfigName, string> = {
  express: 'bare Express 5, no sessions',
  floor: 'bare Express 5 + the least a signed-cookie session middleware does (a Map, no expiry)',
  'express-session+memory': 'express-session 1.19 + its MemoryStore',
  'esm+memory': 'this library, default in-process MemoryStore and coordinator',
  'express-session+redis': 'express-session 1.19 + connect-redis 9',
  'esm+redis': 'this library + connect-redis 9, in-process coordinator',
  'esm+redis+coordinator': 'this library + connect-redis 9 + redisCoordinator',
};

export function usesRedis(config: ConfigName): boolean {
  return config.includes('redis');
}

/** The express-session configuration on the same store (the "vs express-session" baseline). */
export function expressSessionPeer(config: ConfigName): ConfigName | undefined {
  if (config === 'esm+memory') return 'express-session+memory';
  if (config === 'esm+redis' || config === 'esm+redis+coordinator') return 'express-session+redis';
  return undefined;
}

/** Whether `config` runs this library (and so has its options, such as `serialAccess`). */
export function isThisLibrary(config: ConfigName): boolean {
  return config.startsWith('esm');
}
