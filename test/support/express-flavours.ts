import express5 from 'express';
import express4 from 'express4';
import type { Express } from 'express';

/** Express 4 and 5: every HTTP suite runs against both (`describe.each(EXPRESS_FLAVOURS)`). */
export const EXPRESS_FLAVOURS: [string, () => Express][] = [
  ['express 4', () => (express4 as unknown as () => Express)()],
  ['express 5', () => express5()],
];
