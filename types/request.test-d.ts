/**
 * Type tests (checked by `tsc --noEmit -p types/tsconfig.json`, never run):
 * what a user who imports the package gets on Express's `Request` and from
 * the manager's events, without casts. `// @ts-expect-error` lines are the
 * negative cases: the check fails if any of them stops being an error.
 */
import express, { type Request, type Response } from 'express';
import type { Session, SessionData, Store } from 'express-session';
import {
  createSessionManager,
  sessionManagement,
  type DestroyReason,
  type HttpSession,
  type KillResult,
  type SessionCreatedEvent,
  type SessionInfo,
  type SessionDestroyedEvent,
  type SessionManager,
} from '../lib/index';

/** `true` exactly when `A` and `B` are the same type (not merely assignable). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

declare const req: Request;
declare const res: Response;

// req.httpSession and the Servlet request methods
const attribute = req.httpSession.getAttribute<string>('x');
const attributeIsOptionalString: Equal<typeof attribute, string | undefined> = true;
const untyped = req.httpSession.getAttribute('x');
const untypedIsUnknown: Equal<typeof untyped, unknown> = true;
const session: HttpSession = req.httpSession;
const maybe = req.getSession(false);
const maybeIsNullable: Equal<typeof maybe, HttpSession | null> = true;
const created = req.getSession();
const createdIsSession: Equal<typeof created, HttpSession> = true;
const explicit = req.getSession(true);
const explicitIsSession: Equal<typeof explicit, HttpSession> = true;
const requested = req.getRequestedSessionId();
const requestedIsNullable: Equal<typeof requested, string | null> = true;
const valid: boolean = req.isRequestedSessionIdValid();
const newId: string = req.changeSessionId();
const names: string[] = session.getAttributeNames();
const interval: number = session.getMaxInactiveInterval();
const app: string = session.app;
const signal: AbortSignal = session.signal;
session.setAttribute('cart', [42]);
session.setMaxInactiveInterval(300);
res.json({ id: session.getId(), isNew: session.isNew(), names, interval, app, aborted: signal.aborted, valid, newId });

// express-session's req.session, req.sessionID, req.sessionStore (docs/architecture.md, "express-session compatibility")
const compat = req.session;
const compatIsSession: Equal<typeof compat, Session & Partial<SessionData>> = true;
const sessionId: string = req.sessionID;
const sessionStore: Store = req.sessionStore;
req.session.regenerate((err: unknown) => void err);
req.session.cookie.maxAge = 1000;
// @ts-expect-error: regenerate takes a callback
req.session.regenerate(42);
void [compatIsSession, sessionId, sessionStore];

// Inside a route handler, with inferred parameter types
const server = express();
server.use(sessionManagement());
server.post('/cart', (request, response) => {
  request.httpSession.setAttribute('cart', [42]);
  const cart = request.httpSession.getAttribute<number[]>('cart');
  const cartIsOptional: Equal<typeof cart, number[] | undefined> = true;
  response.json({ id: request.httpSession.getId(), cart, cartIsOptional });
});

// Events
const manager: SessionManager = createSessionManager();
manager.on('sessionDestroyed', (e) => {
  const reason = e.reason;
  const reasonIsDestroyReason: Equal<typeof reason, DestroyReason> = true;
  const payloadIsDestroyed: Equal<typeof e, SessionDestroyedEvent> = true;
  const snapshot: Record<string, unknown> = e.attributes;
  const when: number = e.lastAccessedTime;
  return void [reasonIsDestroyReason, payloadIsDestroyed, snapshot, when, e.id, e.app, e.subsession];
});
manager.on('sessionDestroyed', (e) => e.reason);
manager.on('sessionCreated', (e) => {
  const payloadIsCreated: Equal<typeof e, SessionCreatedEvent> = true;
  return void [payloadIsCreated, e.session.getId()];
});
manager.once('attributeReplaced', (e) => void [e.value, e.newValue, e.name]);
manager.on('listenerError', (e) => void [e.event, e.error]);
manager.on('sessionDestroyed', async (e) => {
  await Promise.resolve(e.id);
});
const middleware = sessionManagement({ invalidationTimeout: 600, app: 'shop', maxInactiveInterval: 120 });
const fromMiddleware: SessionManager = middleware.manager;

// Negative cases
// @ts-expect-error HttpSession has no such method
req.httpSession.nonexistent();
// @ts-expect-error the destroyed event has no `nope`
manager.on('sessionDestroyed', (e) => e.nope);
// @ts-expect-error no such event
manager.on('sessionExploded', () => undefined);
// @ts-expect-error getSession(false) may be null
const notNull: HttpSession = req.getSession(false);
// @ts-expect-error getAttribute may be undefined
const notUndefined: string = req.httpSession.getAttribute<string>('x');
// @ts-expect-error the requested id may be null
const notNullId: string = req.getRequestedSessionId();
// @ts-expect-error attribute names are strings
req.httpSession.setAttribute(42, 'x');
// @ts-expect-error reason is a closed set of strings
const badReason: Equal<SessionDestroyedEvent['reason'], string> = true;
// @ts-expect-error app options are checked too
sessionManagement({ maxInactiveInterval: '60' });
// @ts-expect-error unknown option names are rejected
createSessionManager({ invalidationTimout: 60 });

// Administration (docs/architecture.md)
const page = manager.sessions.list({ principal: 'ann', limit: 10 });
const pageIsTyped: Equal<typeof page, Promise<{ sessions: SessionInfo[]; cursor?: string }>> = true;
const killed: Promise<KillResult> = manager.sessions.kill('id', { app: 'shop' });
const killedByUser: Promise<number> = manager.sessions.killByPrincipal('ann');
const principalOfInfo = (info: SessionInfo): string | null => info.principal;
express().use('/admin', manager.adminRouter({ authorize: (r) => r.ip === '127.0.0.1' }));
express().post('/logout', manager.disconnect());
createSessionManager({ principal: (r) => r.get('x-user') });
// @ts-expect-error adminRouter needs authorize
manager.adminRouter({});
// @ts-expect-error list limits are numbers
manager.sessions.list({ limit: '10' });

export const used = [
  pageIsTyped,
  killed,
  killedByUser,
  principalOfInfo,
  attributeIsOptionalString,
  untypedIsUnknown,
  maybeIsNullable,
  createdIsSession,
  explicitIsSession,
  requestedIsNullable,
  fromMiddleware,
  notNull,
  notUndefined,
  notNullId,
  badReason,
];
