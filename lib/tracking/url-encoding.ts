import { putIdInUrl, splitUrl, takeIdFromUrl, type UrlParameter } from './url-parameter';

/**
 * `res.encodeURL` rules (docs/url-tracking.md, "Which URLs are encoded"):
 * the id goes only into URLs that lead back to this origin. Anything that
 * could be read as another origin or a script is returned unchanged — when
 * in doubt, the URL is left alone (a lost session beats a leaked one).
 */

/** What the rules need to know of the request: where it came from and what the browser shows. */
export interface RequestOrigin {
  /** `http` or `https` (Express's `req.protocol`, which honours `trust proxy`). */
  protocol: string;
  /** The Host header (`host[:port]`); `undefined`: absolute URLs are never encoded. */
  host: string | undefined;
  /** The request's URL as the browser sent it (`req.originalUrl`). */
  originalUrl: string;
}

/** A scheme at the start of a URL (`http:`, `javascript:`, …). */
const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):/;

/**
 * Whether browsers might read `url` otherwise than it looks: they drop
 * control characters (tab, newline: `java\tscript:` is `javascript:`) and
 * surrounding spaces, and read `\` in a path as `/` (`/\\evil.example` is
 * another host).
 */
function isAmbiguous(url: string): boolean {
  if (url.startsWith(' ') || url.endsWith(' ')) return true;
  for (let i = 0; i < url.length; i++) {
    const code = url.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return splitUrl(url).path.includes('\\');
}

/** `url` with the id `value` (%-encoded) when it leads to this origin; unchanged otherwise. */
export function encodeUrl(url: string, origin: RequestOrigin, parameter: UrlParameter, value: string): string {
  if (typeof url !== 'string' || url === '' || url.startsWith('#') || isAmbiguous(url)) return url;
  const scheme = SCHEME.exec(url);
  if (scheme) return isSameOrigin(url, origin) ? putIdInUrl(url, parameter, value) : url;
  if (url.startsWith('//')) return url; // another host, as far as we know
  if (url.startsWith('?') && parameter.style === 'path') {
    // `;jsessionid=…?q` would resolve to the directory: keep the current document's name in front.
    return putIdInUrl(currentDocument(origin.originalUrl, parameter) + url, parameter, value);
  }
  return putIdInUrl(url, parameter, value);
}

/** Whether an absolute `url` has the request's scheme, host and port. */
function isSameOrigin(url: string, origin: RequestOrigin): boolean {
  if (origin.host === undefined) return false;
  let target: URL;
  let own: URL;
  try {
    target = new URL(url);
    own = new URL(`${origin.protocol}://${origin.host}/`);
  } catch {
    return false;
  }
  return (target.protocol === 'http:' || target.protocol === 'https:') && target.origin === own.origin;
}

/** The last path segment of the browser's URL, without the id: what a query-only link refers to. */
function currentDocument(originalUrl: string, parameter: UrlParameter): string {
  const { path } = splitUrl(takeIdFromUrl(originalUrl, parameter).url);
  return path.slice(path.lastIndexOf('/') + 1);
}
