/**
 * `npm start`: the demo on http://localhost:3000 (PORT overrides): the
 * default app at /, two more apps of the same manager at /shop and /bank,
 * and the admin page at /admin/ (from this machine only). The app itself is
 * in demo-app.ts.
 */
import { createDemoApp } from './demo-app';

const port = Number(process.env.PORT ?? 3000);
const { app } = createDemoApp();

app.listen(port, () => {
  console.log(`express-session-management demo on http://localhost:${port} (apps: /, /shop, /bank; admin page: /admin/)`);
});
