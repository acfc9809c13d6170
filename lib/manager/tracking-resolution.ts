import { isPlainObject } from './option-validators';
import { URL_OPTION_NAMES, type ResolvedManagerOptions, type SessionManagerOptions } from './options';

/** A URL parameter name that needs no escaping and cannot break a path or query apart. */
const PARAMETER_NAME = /^[A-Za-z0-9_.~-]{1,64}$/;

const TRACKING_MESSAGE = "tracking must be 'cookie', 'header', 'url' or ['cookie', 'url']";

/**
 * What is wrong with `tracking` and `url` (docs/url-tracking.md): the
 * tracking one of the four forms; `url` an object of known settings, and
 * only with a tracking that reads URLs (set alone, it would do nothing).
 */
export function trackingViolations(options: SessionManagerOptions): string[] {
  const mode = trackingMode(options.tracking);
  const violations = mode === undefined ? [TRACKING_MESSAGE] : [];
  const url = options.url as unknown;
  if (url === undefined || url === null) return violations;
  if (!isPlainObject(url)) return [...violations, 'url must be an object ({ name?, style? })'];
  for (const key of Object.keys(url)) {
    if (!(URL_OPTION_NAMES as readonly string[]).includes(key)) violations.push(`url.${key} is not an option (known: ${URL_OPTION_NAMES.join(', ')})`);
  }
  if (url.name !== undefined && (typeof url.name !== 'string' || !PARAMETER_NAME.test(url.name))) {
    violations.push('url.name must be 1-64 characters of A-Z a-z 0-9 _ . ~ -');
  }
  if (url.style !== undefined && url.style !== 'path' && url.style !== 'query') violations.push("url.style must be 'path' or 'query'");
  if (mode === 'cookie' || mode === 'header') violations.push("url is set but tracking does not include 'url'");
  return violations;
}

/** The checked `tracking` and `url` options as the manager uses them. */
export function resolveTracking(options: SessionManagerOptions): Pick<ResolvedManagerOptions, 'tracking' | 'url'> {
  return {
    tracking: trackingMode(options.tracking) ?? 'cookie',
    url: { name: options.url?.name ?? 'jsessionid', style: options.url?.style ?? 'path' },
  };
}

/** The resolved form of `tracking`; `undefined` when it is none of the allowed ones. */
function trackingMode(tracking: unknown): ResolvedManagerOptions['tracking'] | undefined {
  if (tracking === undefined || tracking === null) return 'cookie';
  if (tracking === 'cookie' || tracking === 'header' || tracking === 'url') return tracking;
  if (Array.isArray(tracking) && tracking.length === 2 && tracking.includes('cookie') && tracking.includes('url')) return 'cookie+url';
  return undefined;
}
