import { ValidateBy, validateSync, type ValidationError, type ValidationOptions } from 'class-validator';
import { expressSessionHint } from './express-session-options';

/**
 * The option checks class-validator does not have, as decorators for the
 * schemas of `option-resolution.ts`, and the check of one options object
 * against its schema.
 */

/** RFC 6265 cookie-name / RFC 7230 header-name token. */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** A value that has every named method. */
export function HasMethods(methods: string[], what: string, options?: ValidationOptions): PropertyDecorator {
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

/** An object (a coordinator: what it can do is checked by `coordinatorViolations`). */
export function IsObjectValue(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isObject',
      validator: {
        validate: (value: unknown) => typeof value === 'object' && value !== null && !Array.isArray(value),
        defaultMessage: (args) => `${args?.property} must be a coordinator object`,
      },
    },
    options,
  );
}

/** A function. */
export function IsFunction(options?: ValidationOptions): PropertyDecorator {
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
export function IsSecret(options?: ValidationOptions): PropertyDecorator {
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

/** A boolean or a plain object. */
export function IsBooleanOrObject(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isBooleanOrObject',
      validator: {
        validate: (value: unknown) => typeof value === 'boolean' || isPlainObject(value),
        defaultMessage: (args) => `${args?.property} must be true, false or an object`,
      },
    },
    options,
  );
}

/** A plain object. */
export function IsPlainObject(options?: ValidationOptions): PropertyDecorator {
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

/** A plain object (not an array, not a class instance). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Violations of one options object: unknown names, then class-validator's findings. */
export function check(
  Schema: new () => object,
  input: unknown,
  known: readonly string[],
  prefix: string,
): string[] {
  if (!isPlainObject(input)) return [`${prefix || 'options'} must be an object`];
  const unknown = Object.keys(input)
    .filter((key) => !known.includes(key))
    .map((key) => expressSessionHint(prefix, key) ?? `${prefix}${key} is not an option (known: ${known.join(', ')})`);
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
