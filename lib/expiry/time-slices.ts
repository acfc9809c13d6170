import { performance } from 'node:perf_hooks';

/** Longest stretch of work before the event loop gets a turn (the limit is 20 ms; see docs/architecture.md). */
const SLICE_MS = 5;

/**
 * Long work in slices: call `yieldIfDue()` between small units of work; once
 * a slice has run it waits for `setImmediate`, so timers and I/O (requests)
 * get their turn before the work goes on. Work that only awaits microtasks
 * (an in-process store) would otherwise hold the loop to the end.
 */
export class TimeSlices {
  private sliceStart = performance.now();

  /**
   * @param sliceMs the longest run between two turns of the loop, ms. A V8
   * collection that falls inside a slice adds to it, so work that makes
   * much garbage or many lasting objects (a snapshot) runs in shorter
   * slices (docs/architecture.md, "Persistence").
   */
  constructor(private readonly sliceMs = SLICE_MS) {}

  /** Resolves at once within a slice; after one, on the next turn of the event loop. */
  async yieldIfDue(): Promise<void> {
    if (performance.now() - this.sliceStart < this.sliceMs) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.sliceStart = performance.now();
  }
}
