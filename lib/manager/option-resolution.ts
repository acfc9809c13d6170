import {
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsOptional,
  IsPositive,
  IsString,
  Matches,
  Min,
  NotEquals,
} from 'class-validator';
import { BASE_NEED, missingCapabilities, type Need } from '../coordination/capabilities';
import { ConfigurationError } from '../errors';
import { APP_NAME, DEFAULT_APP } from '../storage/session-key';
import {
  APP_OPTION_NAMES,
  COOKIE_OPTION_NAMES,
  MANAGER_OPTION_NAMES,
  SERIAL_ACCESS_OPTION_NAMES,
  type AppOptions,
  type ResolvedAppOptions,
  type ResolvedManagerOptions,
  type SerialAccessOptions,
  type SessionManagerOptions,
} from './options';
import type { SerialAccessSetting } from '../locking/serial-slot';
import { persistViolations, resolvePersist } from './persist-resolution';
import { resolveTracking, trackingViolations } from './tracking-resolution';
import { capViolations, cookiePrefixViolations } from './security-options';
import {
  check,
  HasMethods,
  IsBooleanOrObject,
  IsFunction,
  IsObjectValue,
  IsPlainObject,
  IsSecret,
  isPlainObject,
  TOKEN,
} from './option-validators';

class ManagerOptionsSchema {
  @IsOptional() @HasMethods(['get', 'set', 'destroy'], 'an express-session store')
  store?: unknown;

  @IsOptional() @IsObjectValue()
  coordinator?: unknown;

  @IsOptional() @IsInt({ message: 'invalidationTimeout must be a whole number of seconds' })
  @NotEquals(0, { message: 'invalidationTimeout must not be 0 (use -1 for never; 0 means "the global" only at app level)' })
  invalidationTimeout?: number;

  @IsOptional() @IsInt({ message: 'reaperInterval must be a whole number of seconds' })
  @Min(1, { message: 'reaperInterval must be at least 1 second' })
  reaperInterval?: number;

  @IsOptional() @IsBoolean()
  strictExpiry?: boolean;

  @IsOptional() @IsSecret()
  secret?: unknown;

  @IsOptional() @IsPlainObject()
  cookie?: unknown;

  @IsOptional() @IsString() @Matches(TOKEN, { message: 'header must be a valid HTTP header name' })
  header?: string;

  @IsOptional() @IsBooleanOrObject()
  serialAccess?: unknown;

  @IsOptional() @IsFunction()
  principal?: unknown;

  @IsOptional() @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'storeTimeout must be a number of seconds' })
  @IsPositive({ message: 'storeTimeout must be positive' })
  storeTimeout?: number;

  @IsOptional() @HasMethods(['now'], 'a clock')
  clock?: unknown;

  @IsOptional() @IsFunction()
  genid?: unknown;

  @IsOptional() @IsBoolean()
  expressSessionCompat?: boolean;

  @IsOptional() @IsInt({ message: 'maxLifetime must be a whole number of seconds' })
  @NotEquals(0, { message: 'maxLifetime must not be 0 (use -1 for none)' })
  maxLifetime?: number;

  @IsOptional() @IsInt({ message: 'maxActiveSessions must be a whole number' })
  @Min(1, { message: 'maxActiveSessions must be at least 1' })
  maxActiveSessions?: number;

  @IsOptional() @IsInt({ message: 'maxSessionsPerPrincipal must be a whole number' })
  @Min(1, { message: 'maxSessionsPerPrincipal must be at least 1' })
  maxSessionsPerPrincipal?: number;

  @IsOptional() @IsIn(['evict-oldest', 'reject'], { message: "onMaxSessions must be 'evict-oldest' or 'reject'" })
  onMaxSessions?: string;

  @IsOptional() @IsBoolean()
  rotateOnLogin?: boolean;
}

class CookieOptionsSchema {
  @IsOptional() @IsString() @Matches(TOKEN, { message: 'name must be a valid cookie name' })
  name?: string;

  @IsOptional() @IsString() @Matches(/^\//, { message: "path must start with '/'" })
  path?: string;

  @IsOptional() @IsString()
  domain?: string;

  @IsOptional() @IsIn([true, false, 'auto'], { message: "secure must be true, false or 'auto'" })
  secure?: unknown;

  @IsOptional() @IsIn(['lax', 'strict', 'none', false], { message: "sameSite must be 'lax', 'strict', 'none' or false" })
  sameSite?: unknown;

  @IsOptional() @IsBoolean()
  httpOnly?: boolean;

  @IsOptional() @IsInt({ message: 'maxAge must be a whole number of seconds' }) @Min(0)
  maxAge?: number;
}

class SerialAccessSchema {
  @IsOptional() @IsNumber({ allowNaN: false, allowInfinity: false }) @IsPositive()
  maxWaitTime?: number;

  @IsOptional() @IsBoolean()
  accessOnTimeout?: boolean;
}

class AppOptionsSchema {
  @IsOptional() @IsString() @Matches(APP_NAME, {
    message: 'app must be 1-64 characters of letters, digits, _ . -',
  })
  app?: string;

  @IsOptional() @IsInt({ message: 'maxInactiveInterval must be a whole number of seconds' })
  maxInactiveInterval?: number;

  @IsOptional() @IsBoolean()
  stateless?: boolean;

  @IsOptional() @IsBooleanOrObject()
  serialAccess?: unknown;
}

/**
 * Validates manager options and applies defaults. Throws
 * `ConfigurationError` naming every offending option.
 */
export function resolveManagerOptions(input: unknown): ResolvedManagerOptions {
  const options = (input ?? {}) as SessionManagerOptions;
  const violations = [
    ...check(ManagerOptionsSchema, options, MANAGER_OPTION_NAMES, ''),
    ...(isPlainObject(options.cookie) ? check(CookieOptionsSchema, options.cookie, COOKIE_OPTION_NAMES, 'cookie.') : []),
    ...serialAccessViolations(options.serialAccess),
    ...cookiePrefixViolations(options.cookie),
    ...capViolations(options),
    ...coordinatorViolations(options),
    ...persistViolations(options),
    ...trackingViolations(options),
  ];
  if (violations.length > 0) throw new ConfigurationError(violations);

  const timeout = options.invalidationTimeout ?? 1800;
  const cookie = options.cookie ?? {};
  return {
    store: options.store,
    coordinator: options.coordinator,
    invalidationTimeoutMs: timeout < 0 ? null : timeout * 1000,
    reaperInterval: options.reaperInterval,
    strictExpiry: options.strictExpiry ?? true,
    secrets: options.secret === undefined || options.secret === null
      ? undefined
      : Array.isArray(options.secret) ? [...options.secret] : [options.secret],
    ...resolveTracking(options),
    cookie: {
      name: cookie.name ?? 'JSESSIONID',
      path: cookie.path ?? '/',
      domain: cookie.domain,
      secure: cookie.secure ?? false,
      sameSite: cookie.sameSite ?? 'lax',
      httpOnly: cookie.httpOnly ?? true,
      maxAge: cookie.maxAge,
    },
    cookieMaxAgeMs: cookie.maxAge === undefined || cookie.maxAge === null ? undefined : cookie.maxAge * 1000,
    header: (options.header ?? 'x-session-id').toLowerCase(),
    serialAccess: serialAccessSetting(options.serialAccess) ?? false,
    principal: options.principal,
    storeTimeoutMs: (options.storeTimeout ?? 5) * 1000,
    clock: options.clock,
    persist: resolvePersist(options.persist),
    genid: options.genid,
    expressSessionCompat: options.expressSessionCompat ?? true,
    maxLifetimeMs: options.maxLifetime === undefined || options.maxLifetime === null || options.maxLifetime < 0 ? null : options.maxLifetime * 1000,
    maxActiveSessions: options.maxActiveSessions ?? undefined,
    maxSessionsPerPrincipal: options.maxSessionsPerPrincipal ?? undefined,
    onMaxSessions: options.onMaxSessions ?? 'evict-oldest',
    rotateOnLogin: options.rotateOnLogin ?? true,
  };
}

/**
 * What the given coordinator lacks of what the options need
 * (docs/architecture.md, "Coordinators"): every coordinator tracks access and
 * claims sessions; the `principal` option needs a session index.
 */
function coordinatorViolations(options: SessionManagerOptions): string[] {
  const { coordinator } = options;
  if (typeof coordinator !== 'object' || coordinator === null) return [];
  const needs: Need[] = [BASE_NEED];
  if (options.principal) needs.push([['a session index'], 'the principal option needs (sessions are found by user)']);
  if (options.maxActiveSessions !== undefined && options.maxActiveSessions !== null) needs.push([['session caps'], 'maxActiveSessions needs']);
  if (options.maxSessionsPerPrincipal !== undefined && options.maxSessionsPerPrincipal !== null) {
    needs.push([['session caps', 'kill signals'], 'maxSessionsPerPrincipal needs (the oldest session is killed)']);
  }
  return missingCapabilities(coordinator, needs);
}

/** Validates app options and applies defaults; throws `ConfigurationError`. */
export function resolveAppOptions(input: unknown): ResolvedAppOptions {
  const options = (input ?? {}) as AppOptions;
  const violations = [...check(AppOptionsSchema, options, APP_OPTION_NAMES, ''), ...serialAccessViolations(options.serialAccess)];
  if (violations.length > 0) throw new ConfigurationError(violations);
  return {
    app: options.app ?? DEFAULT_APP,
    maxInactiveInterval: options.maxInactiveInterval ?? 0,
    stateless: options.stateless ?? false,
    serialAccess: serialAccessSetting(options.serialAccess),
  };
}

/** The violations of a `serialAccess` object's own options. */
function serialAccessViolations(serialAccess: unknown): string[] {
  return isPlainObject(serialAccess) ? check(SerialAccessSchema, serialAccess, SERIAL_ACCESS_OPTION_NAMES, 'serialAccess.') : [];
}

/** A checked `serialAccess` value as the request path uses it; `undefined` when not given. */
function serialAccessSetting(serialAccess: boolean | SerialAccessOptions | undefined | null): SerialAccessSetting | false | undefined {
  if (serialAccess === undefined || serialAccess === null) return undefined;
  if (serialAccess === false) return false;
  const given = serialAccess === true ? {} : serialAccess;
  return { maxWaitMs: (given.maxWaitTime ?? 120) * 1000, accessOnTimeout: given.accessOnTimeout ?? false };
}

/**
 * Splits `sessionManagement()` options into manager and app options. Both
 * halves are checked here, so one `ConfigurationError` names every bad
 * option, manager and app alike (the manager alone would stop at its own).
 */
export function splitOptions(input: unknown): { manager: Record<string, unknown>; app: Record<string, unknown> } {
  const manager: Record<string, unknown> = {};
  const app: Record<string, unknown> = {};
  if (input === undefined || input === null) return { manager, app };
  if (!isPlainObject(input)) throw new ConfigurationError(['options must be an object']);
  for (const [key, value] of Object.entries(input)) {
    if ((APP_OPTION_NAMES as readonly string[]).includes(key)) app[key] = value;
    else manager[key] = value;
  }
  const violations = [...violationsOf(resolveManagerOptions, manager), ...violationsOf(resolveAppOptions, app)];
  if (violations.length > 0) throw new ConfigurationError(violations);
  return { manager, app };
}

/** The violations `resolve` reports for `input`; none when it accepts it. */
function violationsOf(resolve: (input: unknown) => unknown, input: unknown): string[] {
  try {
    resolve(input);
    return [];
  } catch (error) {
    if (error instanceof ConfigurationError) return error.violations;
    throw error;
  }
}
