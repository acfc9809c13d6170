/**
 * The session id in a URL (docs/url-tracking.md): a path parameter
 * `;jsessionid=<value>` (Servlet URL rewriting) or a query parameter
 * `?jsessionid=<value>`. Parsing and stripping only; what to trust is
 * the codec's business.
 */

/** Where the id sits in a URL. */
export type UrlStyle = 'path' | 'query';

/** The id parameter of one configuration. */
export interface UrlParameter {
  name: string;
  style: UrlStyle;
}

/** Longest raw value looked at: a longer one is "no session" (the codec refuses over 512 too). */
const MAX_VALUE_LENGTH = 512;

/** What a URL carried: `raw` is the value when exactly one well-sized one was there. */
export interface UrlIdFound {
  /** The URL without any id parameter. */
  url: string;
  /** The raw (%-encoded) value; `undefined` when absent, repeated, empty or oversized. */
  raw: string | undefined;
  /** Whether the URL had the parameter at all (even a bad one). */
  present: boolean;
}

/** Splits `url` into what precedes its query, its query (with `?`) and its fragment (with `#`). */
export function splitUrl(url: string): { path: string; query: string; fragment: string } {
  const hash = url.indexOf('#');
  const beforeHash = hash < 0 ? url : url.slice(0, hash);
  const fragment = hash < 0 ? '' : url.slice(hash);
  const mark = beforeHash.indexOf('?');
  return mark < 0
    ? { path: beforeHash, query: '', fragment }
    : { path: beforeHash.slice(0, mark), query: beforeHash.slice(mark), fragment };
}

/** Finds the id in `url` and returns the URL without it. A URL without the parameter comes back as it was. */
export function takeIdFromUrl(url: string, parameter: UrlParameter): UrlIdFound {
  return parameter.style === 'path' ? takeFromPath(url, parameter.name) : takeFromQuery(url, parameter.name);
}

/** `;name=value` in any path segment (as Tomcat reads path parameters), every one removed. */
function takeFromPath(url: string, name: string): UrlIdFound {
  const marker = `;${name}=`;
  const parts = splitUrl(url);
  if (!parts.path.includes(marker)) return { url, raw: undefined, present: false };
  const values: string[] = [];
  let path = '';
  let at = 0;
  for (let found = parts.path.indexOf(marker); found >= 0; found = parts.path.indexOf(marker, at)) {
    path += parts.path.slice(at, found);
    const start = found + marker.length;
    let end = start;
    while (end < parts.path.length && parts.path[end] !== ';' && parts.path[end] !== '/') end++;
    values.push(parts.path.slice(start, end));
    at = end;
  }
  path += parts.path.slice(at);
  return { url: path + parts.query + parts.fragment, raw: single(values), present: true };
}

/** `name=value` among the query's parameters, every one removed, the others kept in order. */
function takeFromQuery(url: string, name: string): UrlIdFound {
  const parts = splitUrl(url);
  if (!parts.query.includes(`${name}=`)) return { url, raw: undefined, present: false };
  const values: string[] = [];
  const kept: string[] = [];
  for (const pair of parts.query.slice(1).split('&')) {
    if (pair.startsWith(`${name}=`)) values.push(pair.slice(name.length + 1));
    else kept.push(pair);
  }
  if (values.length === 0) return { url, raw: undefined, present: false };
  const query = kept.length > 0 ? `?${kept.join('&')}` : '';
  return { url: parts.path + query + parts.fragment, raw: single(values), present: true };
}

/** The one value, or `undefined` when there are several (ambiguous: no session), it is empty or oversized. */
function single(values: string[]): string | undefined {
  if (values.length !== 1) return undefined;
  const value = values[0];
  return value.length === 0 || value.length > MAX_VALUE_LENGTH ? undefined : value;
}

/** `url` with `value` (already %-encoded) as its only id parameter: one already there is replaced, not doubled. */
export function putIdInUrl(url: string, parameter: UrlParameter, value: string): string {
  const { url: bare } = takeIdFromUrl(url, parameter);
  const parts = splitUrl(bare);
  if (parameter.style === 'path') return `${parts.path};${parameter.name}=${value}${parts.query}${parts.fragment}`;
  const query = parts.query.length > 1 ? `${parts.query}&` : '?';
  return `${parts.path}${query}${parameter.name}=${value}${parts.fragment}`;
}
