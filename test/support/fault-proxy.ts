/**
 * A TCP fault proxy (node:net) to put between Redis clients and a private
 * redis-server, so that a test can break the network on purpose:
 *
 * - {@link FaultProxy.latency} — every chunk waits `ms` before it is passed
 *   on (replies, requests, or both), in order;
 * - {@link FaultProxy.blackhole} — a partition: connections are accepted and
 *   bytes are read in both directions, but nothing is delivered; new
 *   connections are accepted and not yet connected upstream;
 *   {@link FaultProxy.restore} delivers everything held, in order, as TCP
 *   does when a partition heals;
 * - {@link FaultProxy.reset} — every open connection gets an RST (both
 *   sides), once; new connections work;
 * - {@link FaultProxy.cut} — every open connection gets an RST, and so does
 *   every new one, until {@link FaultProxy.restore} (the server is unreachable);
 * - {@link FaultProxy.loseRepliesFrom} — lost answers: the first request that
 *   contains a given text is delivered, and the server runs it, but from then
 *   on nothing it answers on that connection reaches the client;
 *   {@link FaultProxy.restore} resets such a connection (its reply stream is
 *   broken, as after packets lost for good);
 * - {@link FaultProxy.close} — stops listening and drops everything.
 *
 * Faults do not stack: each call replaces the previous mode, and `restore()`
 * goes back to passing bytes straight through (latency stays until set to 0).
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/** Which way latency applies: to replies (server → client), requests, or both. */
export type LatencyDirection = 'reply' | 'request' | 'both';

/** What the proxy does with traffic now. */
type Mode = 'pass' | 'blackhole' | 'cut';

/** One direction of one connection: bytes read on `from`, written to `to` when due. */
class Pipe {
  /** Chunks read but not yet delivered, with when each may go. */
  private readonly queue: { chunk: Buffer; due: number }[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** The far side's socket; set once it is connected (a connection made during a black hole waits). */
  to: Socket | undefined;

  constructor(private readonly proxy: FaultProxy, private readonly isReply: boolean) {}

  /** Queues a chunk and delivers what may go. */
  push(chunk: Buffer): void {
    this.queue.push({ chunk, due: Date.now() + this.proxy.delayOf(this.isReply) });
    this.flush();
  }

  /** Delivers the chunks that are due, in order, unless the proxy holds traffic; re-arms for the rest. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.losing) this.queue.length = 0;
    if (this.proxy.holding() || !this.to || this.to.destroyed) return;
    const now = Date.now();
    while (this.queue.length > 0 && this.queue[0].due <= now) this.to.write(this.queue.shift()!.chunk);
    if (this.queue.length > 0) this.timer = setTimeout(() => this.flush(), this.queue[0].due - now);
  }

  /** Whether this pipe's connection lost its replies (they are dropped, not delivered). */
  losing = false;

  /** Forgets everything held (the connection is gone). */
  drop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
  }
}

/** A client connection and its upstream twin. */
class Connection {
  readonly request: Pipe;
  readonly reply: Pipe;
  upstream: Socket | undefined;
  private closed = false;

  constructor(private readonly proxy: FaultProxy, readonly client: Socket) {
    this.request = new Pipe(proxy, false);
    this.reply = new Pipe(proxy, true);
    this.reply.to = client;
    client.on('data', (chunk: Buffer) => {
      if (proxy.tripwire !== undefined && chunk.includes(proxy.tripwire)) {
        proxy.tripwire = undefined;
        this.reply.losing = true;
      }
      this.request.push(chunk);
    });
    client.on('error', () => this.close(false));
    client.on('close', () => this.close(false));
  }

  /** Opens the upstream side (at once, or when a black hole ends). */
  open(port: number, host: string): void {
    if (this.upstream || this.closed) return;
    const upstream = connect({ port, host, noDelay: true });
    this.upstream = upstream;
    upstream.on('connect', () => {
      this.request.to = upstream;
      this.request.flush();
    });
    upstream.on('data', (chunk: Buffer) => this.reply.push(chunk));
    upstream.on('error', () => this.close(true));
    upstream.on('close', () => this.close(true));
  }

  /** Delivers what is due in both directions. */
  flush(): void {
    this.request.flush();
    this.reply.flush();
  }

  /** Ends both sides: an RST when `reset` (or when the other side was reset), else a normal close. */
  close(reset: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.request.drop();
    this.reply.drop();
    for (const socket of [this.client, this.upstream]) {
      if (!socket || socket.destroyed) continue;
      if (reset) socket.resetAndDestroy();
      else socket.destroy();
    }
    this.proxy.forget(this);
  }
}

/** The proxy; see the file's comment. Start it with {@link startFaultProxy}. */
export class FaultProxy {
  private mode: Mode = 'pass';
  private latencyMs = 0;
  private direction: LatencyDirection = 'reply';
  private readonly connections = new Set<Connection>();
  /** Connections accepted, in total (a client that reconnects shows here). */
  accepted = 0;
  /** @internal The text whose request starts losing its connection's replies ({@link loseRepliesFrom}). */
  tripwire: string | undefined;

  constructor(private readonly server: Server, private readonly targetPort: number, private readonly targetHost: string) {
    server.on('connection', (socket) => this.accept(socket));
  }

  /** The port the proxy listens on, at 127.0.0.1. */
  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** `redis://127.0.0.1:<port>`: what clients should connect to. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Connections open now. */
  get open(): number {
    return this.connections.size;
  }

  /** Delays every chunk going the given way by `ms` (0 switches latency off). */
  latency(ms: number, direction: LatencyDirection = 'reply'): void {
    this.latencyMs = ms;
    this.direction = direction;
  }

  /** Holds every byte in both directions until {@link restore}. */
  blackhole(): void {
    this.mode = 'blackhole';
  }

  /** Sends an RST on every open connection (both sides); new connections work. */
  reset(): void {
    for (const connection of [...this.connections]) connection.close(true);
  }

  /** Resets every open connection and every new one until {@link restore}. */
  cut(): void {
    this.mode = 'cut';
    this.reset();
  }

  /**
   * From the first request that contains `text` on, the replies of its
   * connection are lost: the server runs that request (and what follows),
   * the client hears nothing, until {@link restore}.
   */
  loseRepliesFrom(text: string): void {
    this.tripwire = text;
  }

  /**
   * Passes traffic again; after a black hole, delivers what was held, in
   * order; a connection whose replies were lost is reset.
   */
  restore(): void {
    this.mode = 'pass';
    this.tripwire = undefined;
    for (const connection of [...this.connections]) if (connection.reply.losing) connection.close(true);
    for (const connection of this.connections) {
      connection.open(this.targetPort, this.targetHost);
      connection.flush();
    }
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    for (const connection of [...this.connections]) connection.close(false);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** @internal Whether pipes must hold their bytes now. */
  holding(): boolean {
    return this.mode !== 'pass';
  }

  /** @internal The delay of a chunk going one way. */
  delayOf(isReply: boolean): number {
    if (this.latencyMs === 0) return 0;
    if (this.direction === 'both') return this.latencyMs;
    return isReply === (this.direction === 'reply') ? this.latencyMs : 0;
  }

  /** @internal A connection closed. */
  forget(connection: Connection): void {
    this.connections.delete(connection);
  }

  private accept(socket: Socket): void {
    this.accepted++;
    socket.setNoDelay(true);
    if (this.mode === 'cut') {
      socket.on('error', () => undefined);
      socket.resetAndDestroy();
      return;
    }
    const connection = new Connection(this, socket);
    this.connections.add(connection);
    // During a black hole the upstream side is opened by restore(): the server sees nothing until then.
    if (this.mode === 'pass') connection.open(this.targetPort, this.targetHost);
  }
}

/** Starts a {@link FaultProxy} on a free loopback port in front of `target` (`redis://host:port`). */
export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const { hostname, port } = new URL(target);
  const server = createServer({ noDelay: true });
  const proxy = new FaultProxy(server, Number(port), hostname);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return proxy;
}
