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
  ValidateBy,
  validateSync,
  type ValidationError,
  type ValidationOptions,
} from 'class-validator';
import type { Store } from 'express-session';
import type { Request } from 'express';
import type { Clock } from '../clock';
import type { Coordinator } from '../coordination/coordinator';
import { ConfigurationError } from '../errors';

/** Options of the session cookie (`tracking: 'cookie'`). */
export interface CookieOptions {
  /** Cookie name. @default 'JSESSIONID' */
  name?: string;
  /** Cookie path. @default '/' */
  path?: string;
  /** Cookie domain. @default none (host-only cookie) */
  domain?: string;
  /** Send the cookie over HTTPS only. Turn on in production behind TLS. @default false */
  secure?: boolean;
  /** SameSite attribute; `false` omits it. @default 'lax' */
  sameSite?: 'lax' | 'strict' | 'none' | false;
  /** Hide the cookie from page scripts. Leave on unless you know why not. @default true */
  httpOnly?: boolean;
  /**
   * Lifetime of the browser cookie in whole seconds. It does not decide when
   * the session expires (the idle timeout does). @default none: a
   * browser-session cookie
   */
  maxAge?: number;
}

/** Serial access settings (DESIGN §2). */
export interface SerialAccessOptions {
  /** Seconds a request may wait for its session (fractional allowed). @default 120 */
  maxWaitTime?: number;
  /** Run the request anyway (logged) when the wait times out, instead of a 503. @default false */
  accessOnTimeout?: boolean;
}

/** Manager-level ("session manager") options. Every duration is in seconds. */
export interface SessionManagerOptions {
  /** Any express-session store. @default an in-process {@link MemoryStore} */
  store?: Store;
  /**
   * Where access times, the expiry index and (later) locks and kill signals
   * live. Use `redisCoordinator()` when several processes share a store.
   * @default in-process
   */
  coordinator?: Coordinator;
  /**
   * Global idle timeout in whole seconds; `< 0` never expires. `0` is
   * rejected (it means "use the global" only at app level).
   * @default 1800
   */
  invalidationTimeout?: number;
  /**
   * Whole seconds between reaper sweeps (WebSphere's ReaperInterval).
   * @default derived from invalidationTimeout (DESIGN §5)
   */
  reaperInterval?: number;
  /**
   * `true`: a session past its idle timeout is never served. `false`:
   * WebSphere behaviour, it is served until the reaper has removed it.
   * @default true
   */
  strictExpiry?: boolean;
  /**
   * Signs the id in express-session's format `s:<id>.<signature>`. The first
   * secret signs; all verify (rotation). @default none: ids are unsigned
   */
  secret?: string | string[];
  /** How the id travels: a cookie, or a header for cookieless clients. @default 'cookie' */
  tracking?: 'cookie' | 'header';
  /** Cookie settings for `tracking: 'cookie'`. */
  cookie?: CookieOptions;
  /** Header name for `tracking: 'header'`. @default 'x-session-id' */
  header?: string;
  /** `false`, or settings: requests of one session run one at a time. @default `{ maxWaitTime: 120, accessOnTimeout: false }` */
  serialAccess?: false | SerialAccessOptions;
  /**
   * The authenticated user of a request, if any: enables finding and killing
   * sessions by user (`manager.sessions`) and binds each session to the first
   * user seen on it — another user's request with its id gets
   * `UnauthorizedSessionRequestError` (403), an anonymous one a new session.
   * Hazard: it must read the request's own authentication (a header, a token,
   * `req.user` set by middleware mounted before the sessions), never the
   * session: it is called before `req.httpSession` exists, and a session
   * whose request reads as anonymous is not served. @default none
   */
  principal?: (req: Request) => string | undefined;
  /** Seconds (fractional allowed) a store or coordinator call may take before `StoreUnavailableError`. @default 5 */
  storeTimeout?: number;
  /** Where time comes from; inject a fake one in tests. @default the system clock */
  clock?: Clock;
}

/** App-level ("web module") options of `manager.middleware()`. */
export interface AppOptions {
  /** Name of the application; its sessions are invisible to other apps. @default 'default' */
  app?: string;
  /** Idle timeout of this app's sessions in whole seconds; `0` = the manager's, `< 0` never. @default 0 */
  maxInactiveInterval?: number;
  /** Never create, load or touch a session on these routes. @default false */
  stateless?: boolean;
}

/** Options of `sessionManagement()`: manager and app options together. */
export type SessionManagementOptions = SessionManagerOptions & AppOptions;

/** Manager options with defaults applied. Durations in milliseconds. */
export interface ResolvedManagerOptions {
  store: Store | undefined;
  coordinator: Coordinator | undefined;
  /** ms; `null` = never. */
  invalidationTimeoutMs: number | null;
  reaperInterval: number | undefined;
  strictExpiry: boolean;
  secrets: string[] | undefined;
  tracking: 'cookie' | 'header';
  cookie: Required<Omit<CookieOptions, 'domain' | 'maxAge'>> & Pick<CookieOptions, 'domain' | 'maxAge'>;
  header: string;
  serialAccess: false | { maxWaitMs: number; accessOnTimeout: boolean };
  principal: ((req: Request) => string | undefined) | undefined;
  storeTimeoutMs: number;
  clock: Clock | undefined;
}

/** App options with defaults applied. */
export interface ResolvedAppOptions {
  app: string;
  /** Seconds as given: 0 = the manager's, < 0 never. */
  maxInactiveInterval: number;
  stateless: boolean;
}

export const MANAGER_OPTION_NAMES: readonly (keyof SessionManagerOptions)[] = [
  'store', 'coordinator', 'invalidationTimeout', 'reaperInterval', 'strictExpiry', 'secret',
  'tracking', 'cookie', 'header', 'serialAccess', 'principal', 'storeTimeout', 'clock',
];
export const APP_OPTION_NAMES: readonly (keyof AppOptions)[] = ['app', 'maxInactiveInterval', 'stateless'];
const COOKIE_OPTION_NAMES: readonly (keyof CookieOptions)[] = [
  'name', 'path', 'domain', 'secure', 'sameSite', 'httpOnly', 'maxAge',
];
const SERIAL_ACCESS_OPTION_NAMES: readonly (keyof SerialAccessOptions)[] = ['maxWaitTime', 'accessOnTimeout'];

/** RFC 6265 cookie-name / RFC 7230 header-name token. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** A value that has every named method. */
function HasMethods(methods: string[], what: string, options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'hasMethods',
      validator: {
        validate: (value: unknown) =>
          typeof value === 'object' && value !== null &&
          methods.every((m) => typeof (value as Record<string, unknown>)[m] === 'function'),
        defaultMessage: (args) => `${args?.property} must be ${what} (with ${methods.join(', ')})`,
      },
    },
    options,
  );
}

/** A function. */
function IsFunction(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isFunction',
      validator: {
        validate: (value: unknown) => typeof value === 'function',
        defaultMessage: (args) => `${args?.property} must be a function`,
      },
    },
    options,
  );
}

/** A non-empty string or a non-empty array of non-empty strings. */
function IsSecret(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isSecret',
      validator: {
        validate: (value: unknown) => {
          const list = Array.isArray(value) ? value : [value];
          return list.length > 0 && list.every((s) => typeof s === 'string' && s.length > 0);
        },
        defaultMessage: (args) => `${args?.property} must be a non-empty string or a non-empty array of them`,
      },
    },
    options,
  );
}

/** `false` or a plain object. */
function IsFalseOrObject(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isFalseOrObject',
      validator: {
        validate: (value: unknown) => value === false || isPlainObject(value),
        defaultMessage: (args) => `${args?.property} must be false or an object`,
      },
    },
    options,
  );
}

/** A plain object. */
function IsPlainObject(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isPlainObject',
      validator: {
        validate: (value: unknown) => isPlainObject(value),
        defaultMessage: (args) => `${args?.property} must be an object`,
      },
    },
    options,
  );
}

class ManagerOptionsSchema {
  @IsOptional() @HasMethods(['get', 'set', 'destroy'], 'an express-session store')
  store?: unknown;

  @IsOptional() @HasMethods(['enter', 'leave', 'remove'], 'a coordinator')
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

  @IsOptional() @IsIn(['cookie', 'header'], { message: "tracking must be 'cookie' or 'header'" })
  tracking?: string;

  @IsOptional() @IsPlainObject()
  cookie?: unknown;

  @IsOptional() @IsString() @Matches(TOKEN, { message: 'header must be a valid HTTP header name' })
  header?: string;

  @IsOptional() @IsFalseOrObject()
  serialAccess?: unknown;

  @IsOptional() @IsFunction()
  principal?: unknown;

  @IsOptional() @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'storeTimeout must be a number of seconds' })
  @IsPositive({ message: 'storeTimeout must be positive' })
  storeTimeout?: number;

  @IsOptional() @HasMethods(['now'], 'a clock')
  clock?: unknown;
}

class CookieOptionsSchema {
  @IsOptional() @IsString() @Matches(TOKEN, { message: 'name must be a valid cookie name' })
  name?: string;

  @IsOptional() @IsString() @Matches(/^\//, { message: "path must start with '/'" })
  path?: string;

  @IsOptional() @IsString()
  domain?: string;

  @IsOptional() @IsBoolean()
  secure?: boolean;

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
  @IsOptional() @IsString() @Matches(/^[A-Za-z0-9_.-]{1,64}$/, {
    message: 'app must be 1-64 characters of letters, digits, _ . -',
  })
  app?: string;

  @IsOptional() @IsInt({ message: 'maxInactiveInterval must be a whole number of seconds' })
  maxInactiveInterval?: number;

  @IsOptional() @IsBoolean()
  stateless?: boolean;
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
    ...(isPlainObject(options.serialAccess)
      ? check(SerialAccessSchema, options.serialAccess, SERIAL_ACCESS_OPTION_NAMES, 'serialAccess.')
      : []),
  ];
  if (violations.length > 0) throw new ConfigurationError(violations);

  const timeout = options.invalidationTimeout ?? 1800;
  const cookie = options.cookie ?? {};
  const serial = options.serialAccess ?? {};
  return {
    store: options.store,
    coordinator: options.coordinator,
    invalidationTimeoutMs: timeout < 0 ? null : timeout * 1000,
    reaperInterval: options.reaperInterval,
    strictExpiry: options.strictExpiry ?? true,
    secrets: options.secret === undefined || options.secret === null
      ? undefined
      : Array.isArray(options.secret) ? [...options.secret] : [options.secret],
    tracking: options.tracking ?? 'cookie',
    cookie: {
      name: cookie.name ?? 'JSESSIONID',
      path: cookie.path ?? '/',
      domain: cookie.domain,
      secure: cookie.secure ?? false,
      sameSite: cookie.sameSite ?? 'lax',
      httpOnly: cookie.httpOnly ?? true,
      maxAge: cookie.maxAge,
    },
    header: (options.header ?? 'x-session-id').toLowerCase(),
    serialAccess: serial === false
      ? false
      : { maxWaitMs: (serial.maxWaitTime ?? 120) * 1000, accessOnTimeout: serial.accessOnTimeout ?? false },
    principal: options.principal,
    storeTimeoutMs: (options.storeTimeout ?? 5) * 1000,
    clock: options.clock,
  };
}

/** Validates app options and applies defaults; throws `ConfigurationError`. */
export function resolveAppOptions(input: unknown): ResolvedAppOptions {
  const options = (input ?? {}) as AppOptions;
  const violations = check(AppOptionsSchema, options, APP_OPTION_NAMES, '');
  if (violations.length > 0) throw new ConfigurationError(violations);
  return {
    app: options.app ?? 'default',
    maxInactiveInterval: options.maxInactiveInterval ?? 0,
    stateless: options.stateless ?? false,
  };
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

/** Violations of one options object: unknown names, then class-validator's findings. */
function check(
  Schema: new () => object,
  input: unknown,
  known: readonly string[],
  prefix: string,
): string[] {
  if (!isPlainObject(input)) return [`${prefix || 'options'} must be an object`];
  const unknown = Object.keys(input)
    .filter((key) => !known.includes(key))
    .map((key) => `${prefix}${key} is not an option (known: ${known.join(', ')})`);
  const instance = Object.assign(new Schema(), pickKnown(input, known));
  return [...unknown, ...validateSync(instance).flatMap((error) => describe(error, prefix))];
}

/** The known keys of an object whose value is not null (null means unset). */
function pickKnown(input: Record<string, unknown>, known: readonly string[]): Record<string, unknown> {
  const picked: Record<string, unknown> = {};
  for (const key of known) if (input[key] !== undefined && input[key] !== null) picked[key] = input[key];
  return picked;
}

/** One line per failed constraint, e.g. `cookie.maxAge must not be less than 0`. */
function describe(error: ValidationError, prefix: string): string[] {
  return Object.values(error.constraints ?? {}).map((message) => `${prefix}${message}`);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
