import { IsInt, IsOptional, IsString, Length, Matches, Max, Min, validateSync } from 'class-validator';
import { BadRequestError } from '../errors';
import { APP_NAME as APP, SESSION_ID as ID, SESSION_KEY as KEY } from '../storage/session-key';

/** `sessions.list()` input. */
export interface ListOptions {
  /** Only this app's sessions. */
  app?: string;
  /** Only this user's sessions. */
  principal?: string;
  /** Sessions per page, 1–1000. @default 100 */
  limit?: number;
  /** Where the previous page ended (its `cursor`). */
  cursor?: string;
}

class ListSchema {
  @IsOptional() @IsString() @Matches(APP, { message: 'app must be 1-64 characters of letters, digits, _ . -' })
  app?: string;

  @IsOptional() @IsString() @Length(1, 256, { message: 'principal must be 1-256 characters' })
  principal?: string;

  @IsOptional() @IsInt({ message: 'limit must be a whole number' }) @Min(1) @Max(1000)
  limit?: number;

  @IsOptional() @IsString() @Matches(/^[A-Za-z0-9_-]{1,400}$/, { message: 'cursor must be a cursor from a previous page' })
  cursor?: string;
}

class IdSchema {
  @IsString() @Matches(ID, { message: 'id must be a session id (1-128 characters of letters, digits, _ -)' })
  id!: string;

  @IsOptional() @IsString() @Matches(APP, { message: 'app must be 1-64 characters of letters, digits, _ . -' })
  app?: string;
}

class PrincipalSchema {
  @IsString() @Length(1, 256, { message: 'principal must be 1-256 characters' })
  principal!: string;
}

/** Validates `input` against `Schema`; throws `BadRequestError` naming every violation. */
function validated<T extends object>(Schema: new () => T, input: Record<string, unknown>): T {
  const instance = Object.assign(new Schema(), input);
  const violations = validateSync(instance, { forbidUnknownValues: false }).flatMap((e) => Object.values(e.constraints ?? {}));
  if (violations.length > 0) throw new BadRequestError(violations);
  return instance;
}

/** A checked `list()` input with defaults, and the key its cursor points after (`null`: from the start). */
export function listInput(options: ListOptions = {}): { app?: string; principal?: string; limit: number; after: string | null } {
  const input = validated(ListSchema, { ...options });
  let after: string | null = null;
  if (input.cursor !== undefined) {
    after = Buffer.from(input.cursor, 'base64url').toString('utf8');
    if (!KEY.test(after)) throw new BadRequestError(['cursor must be a cursor from a previous page']);
  }
  return { app: input.app, principal: input.principal, limit: input.limit ?? 100, after };
}

/** A checked session id and optional app. */
export function idInput(id: unknown, app: unknown): { id: string; app?: string } {
  return validated(IdSchema, { id, app });
}

/** A checked app name, when given. */
export function appInput(app: unknown): string | undefined {
  if (app === undefined) return undefined;
  return validated(ListSchema, { app }).app;
}

/** A checked principal. */
export function principalInput(principal: unknown): string {
  return validated(PrincipalSchema, { principal }).principal;
}

/** The cursor of a page that ended at `key`. */
export function cursorAfter(key: string): string {
  return Buffer.from(key, 'utf8').toString('base64url');
}
