/**
 * Where methods added to every request (or response) go: the deepest
 * prototype of `instance` above Node's `base` — Express's `request` or
 * `response`, below every app's own (a mounted sub-app swaps `app.request`
 * in and out, and sees them too) — so they cost nothing per request.
 * `undefined` when `instance` is Node's own object (not Express's): the
 * caller then gives it the methods as its own.
 */
export function methodHome(instance: object, base: object): object | undefined {
  let proto = Object.getPrototypeOf(instance) as object;
  while (proto !== base) {
    const parent = Object.getPrototypeOf(proto) as object | null;
    if (parent === null || parent === base) break;
    proto = parent;
  }
  return proto === base ? undefined : proto;
}
