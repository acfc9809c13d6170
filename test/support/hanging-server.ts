import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A server that accepts requests and never answers. */
export interface HangingServer {
  url: string;
  close(): Promise<void>;
}

/** Starts a {@link HangingServer} on a free loopback port: what a handler's `fetch(…, { signal })` waits on in the kill tests. */
export async function hangingServer(): Promise<HangingServer> {
  const server = http.createServer(() => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
