import type { Response } from 'supertest';

/** The `name=value` pair of a Set-Cookie for `name` in a response, or undefined. */
export function cookieFrom(res: Response, name = 'JSESSIONID'): string | undefined {
  const header = res.headers['set-cookie'] as unknown as string[] | string | undefined;
  const lines = header === undefined ? [] : Array.isArray(header) ? header : [header];
  const line = lines.find((l) => l.startsWith(`${name}=`));
  return line?.split(';')[0];
}

/** The full Set-Cookie line for `name`, or undefined. */
export function setCookieLine(res: Response, name = 'JSESSIONID'): string | undefined {
  const header = res.headers['set-cookie'] as unknown as string[] | string | undefined;
  const lines = header === undefined ? [] : Array.isArray(header) ? header : [header];
  return lines.find((l) => l.startsWith(`${name}=`));
}
