/** The part of autocannon's API the benchmarks use (no @types/autocannon in the dev dependencies). */
declare module 'autocannon' {
  interface Client {
    setHeaders(headers: Record<string, string>): void;
    setRequest(request: { method?: string; path?: string; headers?: Record<string, string>; body?: string }): void;
  }
  interface Options {
    url: string;
    method?: 'GET' | 'POST';
    connections?: number;
    duration?: number;
    headers?: Record<string, string>;
    setupClient?: (client: Client) => void;
  }
  interface Histogram {
    average: number;
    total: number;
    p50: number;
    p99: number;
  }
  interface Result {
    requests: Histogram;
    latency: Histogram;
    non2xx: number;
    errors: number;
    timeouts: number;
  }
  function autocannon(options: Options): Promise<Result>;
  export = autocannon;
}
