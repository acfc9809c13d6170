/**
 * The id in a URL (lib/tracking/url-parameter.ts) and the `encodeURL` rules
 * (lib/tracking/url-encoding.ts; docs/url-tracking.md): what is read,
 * what is taken out, and which URLs get the id.
 */
import { encodeUrl, type RequestOrigin } from '../lib/tracking/url-encoding';
import { putIdInUrl, takeIdFromUrl, type UrlParameter } from '../lib/tracking/url-parameter';

const PATH: UrlParameter = { name: 'jsessionid', style: 'path' };
const QUERY: UrlParameter = { name: 'jsessionid', style: 'query' };

describe('takeIdFromUrl', () => {
  it('reads a ;jsessionid= path parameter and removes it, keeping the query and fragment', () => {
    expect(takeIdFromUrl('/shop/cart;jsessionid=abc?x=1#top', PATH)).toEqual({ url: '/shop/cart?x=1#top', raw: 'abc', present: true });
  });

  it('removes the parameter from a middle segment as well', () => {
    expect(takeIdFromUrl('/shop;jsessionid=abc/cart', PATH)).toEqual({ url: '/shop/cart', raw: 'abc', present: true });
  });

  it('keeps other path parameters', () => {
    expect(takeIdFromUrl('/a;v=2;jsessionid=abc;x=y', PATH)).toEqual({ url: '/a;v=2;x=y', raw: 'abc', present: true });
  });

  it('leaves a URL without the parameter as it was', () => {
    expect(takeIdFromUrl('/cart?jsessionid=abc', PATH)).toEqual({ url: '/cart?jsessionid=abc', raw: undefined, present: false });
  });

  it('treats a repeated parameter as no id, and removes every copy', () => {
    expect(takeIdFromUrl('/a;jsessionid=one;jsessionid=two', PATH)).toEqual({ url: '/a', raw: undefined, present: true });
    expect(takeIdFromUrl('/a;jsessionid=one/b;jsessionid=one', PATH)).toEqual({ url: '/a/b', raw: undefined, present: true });
  });

  it('treats an empty or oversized value as no id', () => {
    expect(takeIdFromUrl('/a;jsessionid=', PATH).raw).toBeUndefined();
    expect(takeIdFromUrl(`/a;jsessionid=${'x'.repeat(513)}`, PATH)).toEqual({ url: '/a', raw: undefined, present: true });
    expect(takeIdFromUrl(`/a;jsessionid=${'x'.repeat(512)}`, PATH).raw).toHaveLength(512);
  });

  it('reads a query parameter with style query, keeping the other parameters in order', () => {
    expect(takeIdFromUrl('/cart?a=1&jsessionid=abc&b=2#f', QUERY)).toEqual({ url: '/cart?a=1&b=2#f', raw: 'abc', present: true });
    expect(takeIdFromUrl('/cart?jsessionid=abc', QUERY)).toEqual({ url: '/cart', raw: 'abc', present: true });
  });

  it('does not take a parameter whose name only ends like the id', () => {
    expect(takeIdFromUrl('/cart?xjsessionid=abc', QUERY)).toEqual({ url: '/cart?xjsessionid=abc', raw: undefined, present: false });
  });

  it('treats a repeated query parameter as no id', () => {
    expect(takeIdFromUrl('/c?jsessionid=a&jsessionid=b', QUERY)).toEqual({ url: '/c', raw: undefined, present: true });
  });
});

describe('putIdInUrl', () => {
  it('replaces an id already in the URL instead of adding a second', () => {
    expect(putIdInUrl('/a;jsessionid=old?q#f', PATH, 'new')).toBe('/a;jsessionid=new?q#f');
    expect(putIdInUrl('/a?jsessionid=old&q=1#f', QUERY, 'new')).toBe('/a?q=1&jsessionid=new#f');
  });
});

describe('encodeUrl', () => {
  const origin: RequestOrigin = { protocol: 'http', host: 'shop.example:8080', originalUrl: '/shop/cart;jsessionid=old?x=1' };
  const encode = (url: string, parameter = PATH): string => encodeUrl(url, origin, parameter, 'ID');

  it('adds the id to relative URLs before the query and fragment', () => {
    expect(encode('/shop/pay?step=2#form')).toBe('/shop/pay;jsessionid=ID?step=2#form');
    expect(encode('pay')).toBe('pay;jsessionid=ID');
    expect(encode('../')).toBe('../;jsessionid=ID');
    expect(encode('/x?step=2#f', QUERY)).toBe('/x?step=2&jsessionid=ID#f');
  });

  it('keeps the current document in front of a query-only link with path style', () => {
    expect(encode('?page=2')).toBe('cart;jsessionid=ID?page=2');
    expect(encode('?page=2', QUERY)).toBe('?page=2&jsessionid=ID');
  });

  it('adds the id to absolute URLs of the same scheme, host and port', () => {
    expect(encode('http://shop.example:8080/pay?q#f')).toBe('http://shop.example:8080/pay;jsessionid=ID?q#f');
    expect(encode('HTTP://SHOP.example:8080/pay')).toBe('HTTP://SHOP.example:8080/pay;jsessionid=ID');
  });

  it('leaves other origins unchanged', () => {
    for (const url of [
      'https://shop.example:8080/pay',
      'http://shop.example/pay',
      'http://evil.example/pay',
      'http://shop.example:8080@evil.example/',
      '//evil.example/pay',
      '/\\evil.example/pay',
      '\\\\evil.example/pay',
    ]) {
      expect(encode(url)).toBe(url);
    }
  });

  it('never encodes javascript:, data: or other schemes, however they are disguised', () => {
    for (const url of [
      'javascript:alert(1)',
      'JavaScript:alert(1)',
      ' javascript:alert(1)',
      'java\tscript:alert(1)',
      'data:text/html,<script>alert(1)</script>',
      'mailto:a@example.com',
      'ftp://shop.example:8080/x',
    ]) {
      expect(encode(url)).toBe(url);
    }
  });

  it('leaves an empty or fragment-only URL unchanged (it does not leave the page)', () => {
    expect(encode('')).toBe('');
    expect(encode('#top')).toBe('#top');
  });

  it('never encodes absolute URLs when the request had no Host', () => {
    expect(encodeUrl('http://shop.example:8080/', { ...origin, host: undefined }, PATH, 'ID')).toBe('http://shop.example:8080/');
  });
});
