/**
 * HTTP calls for the fault suites and the soak: every call has a deadline
 * (a request that hangs shows as status 0, it does not hang the test), says
 * how long it took, and can be abandoned by its client on purpose (the
 * connection is destroyed, as a browser does when the user navigates away).
 */
import { Agent, request } from 'node:http';

/** What came back. `status` 0: no answer within the deadline; -1: the connection failed. */
export interface Answer {
  status: number;
  body: unknown;
  /** Milliseconds from sending to the end of the answer (or to giving up). */
  ms: number;
}

/** Options of {@link call}. */
export interface CallOptions {
  /** Sends `Cookie: JSESSIONID=<id>`. */
  id?: string;
  /** Gives up (status 0) after this long. @default 5000 */
  timeoutMs?: number;
  /** The agent to use. @default a fresh connection per call */
  agent?: Agent;
}

/** A call its client can walk away from. */
export interface AbandonableCall {
  answer: Promise<Answer>;
  /** Destroys the connection (a client disconnect); the answer then has status -1. */
  abandon(): void;
}

/** `method path` on `127.0.0.1:port`. */
export function call(port: number, method: string, path: string, options: CallOptions = {}): Promise<Answer> {
  return start(port, method, path, options).answer;
}

/** Starts `method path` on `127.0.0.1:port`, to be abandoned later. */
export function start(port: number, method: string, path: string, options: CallOptions = {}): AbandonableCall {
  const sent = performance.now();
  const elapsed = (): number => performance.now() - sent;
  let abandon: () => void = () => undefined;
  const answer = new Promise<Answer>((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent: options.agent ?? false,
        headers: options.id ? { cookie: `JSESSIONID=${options.id}` } : {},
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? -1, body: parse(text), ms: elapsed() });
        });
        res.on('error', () => undefined);
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      resolve({ status: 0, body: null, ms: elapsed() });
    }, options.timeoutMs ?? 5_000);
    req.on('error', () => {
      clearTimeout(timer);
      resolve({ status: -1, body: null, ms: elapsed() });
    });
    abandon = () => req.destroy();
    req.end();
  });
  return { answer, abandon: () => abandon() };
}

/** JSON when it is, else the text (or `null` when empty). */
function parse(text: string): unknown {
  if (!text) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** A keep-alive agent for many calls (the caller destroys it). */
export function keepAliveAgent(maxSockets = 64): Agent {
  return new Agent({ keepAlive: true, maxSockets });
}

/** Resolves after `ms`. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `'in time'` when the answer took less than `boundMs`, else how long it took: a failure message that says it. */
export function within(answer: Answer, boundMs: number): string {
  return answer.ms < boundMs ? 'in time' : `${Math.round(answer.ms)} ms`;
}
