/**
 * The built package's types in a user's strict `nodenext` project
 * (docs/architecture.md, "express-session compatibility"): `tsc` compiles
 * a small app whether or not the user installed `@types/express-session`
 * (it is the package's own dependency), and `req.session` is typed as
 * express-session's `Session & Partial<SessionData>`, which users augment.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = resolve(__dirname, '..');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

/** Types every Express user has (through @types/express), linked from this repository. */
const USER_TYPES = ['express', 'express-serve-static-core', 'serve-static', 'send', 'mime', 'qs', 'range-parser', 'body-parser', 'connect', 'node', 'http-errors'];

/** What the app both projects compile uses of the session. */
const APP = `
import express from 'express';
import { sessionManagement, type HttpSession } from 'express-session-management';

const app = express();
app.use(sessionManagement({ cookie: { secure: 'auto', maxAge: 3600 } }));
app.post('/login', (req, res, next) => {
  req.session.regenerate((err: unknown) => {
    if (err) return next(err);
    req.session.cookie.maxAge = 30 * 24 * 3600 * 1000;
    req.session.save(() => res.json({ id: req.sessionID, same: req.session.id === req.httpSession.getId() }));
  });
});
const session: HttpSession = null as unknown as HttpSession;
const id: string = req0().sessionID;
function req0(): express.Request {
  return null as unknown as express.Request;
}
export { session, id };
`;

/** With @types/express-session installed, the user augments SessionData as with express-session. */
const AUGMENTED = `
import type { Request } from 'express';
import 'express-session-management';

declare module 'express-session' {
  interface SessionData {
    views: number;
  }
}

export function views(req: Request): number {
  const seen: number | undefined = req.session.views;
  // @ts-expect-error: a SessionData field has its declared type
  req.session.views = 'many';
  return seen ?? 0;
}
`;

const TSCONFIG = {
  compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', noEmit: true, types: ['node'] },
  include: ['*.ts'],
};

/**
 * A user's project: the built package installed under node_modules (its
 * express-session types nested in its own node_modules, as a dependency),
 * the user's Express types, and `withSessionTypes`: @types/express-session
 * installed by the user too.
 */
function makeProject(withSessionTypes: boolean): string {
  const dir = mkdtempSync(join(tmpdir(), 'esm-types-'));
  const modules = join(dir, 'node_modules');
  const pkg = join(modules, 'express-session-management');
  mkdirSync(join(pkg, 'node_modules', '@types'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
  cpSync(join(ROOT, 'dist'), join(pkg, 'dist'), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules', '@types', 'express-session'), join(pkg, 'node_modules', '@types', 'express-session'), 'dir');
  for (const name of ['express-session', 'redis']) symlinkSync(join(ROOT, 'node_modules', name), join(pkg, 'node_modules', name), 'dir');
  mkdirSync(join(modules, '@types'));
  const types = withSessionTypes ? [...USER_TYPES, 'express-session'] : USER_TYPES;
  for (const name of types) {
    if (existsSync(join(ROOT, 'node_modules', '@types', name))) {
      symlinkSync(join(ROOT, 'node_modules', '@types', name), join(modules, '@types', name), 'dir');
    }
  }
  symlinkSync(join(ROOT, 'node_modules', 'express'), join(modules, 'express'), 'dir');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'user-app', type: 'module', private: true }));
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(TSCONFIG));
  writeFileSync(join(dir, 'app.ts'), APP);
  if (withSessionTypes) writeFileSync(join(dir, 'augmented.ts'), AUGMENTED);
  return dir;
}

/** `tsc -p dir`: resolves with its output, rejects with it when it reports errors. */
async function compile(dir: string): Promise<string> {
  try {
    const { stdout } = await run(process.execPath, [TSC, '-p', dir], { timeout: 60_000 });
    return stdout;
  } catch (error) {
    throw new Error(`tsc failed:\n${(error as { stdout?: string }).stdout ?? String(error)}`);
  }
}

describe('the types of the built package in a strict nodenext project', () => {
  const dirs: string[] = [];

  beforeAll(() => {
    if (!existsSync(join(ROOT, 'dist', 'index.d.ts'))) throw new Error('dist/ is missing: run `npm run build` first');
  });

  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('compiles without @types/express-session installed by the user', async () => {
    const dir = makeProject(false);
    dirs.push(dir);
    expect(existsSync(join(dir, 'node_modules', '@types', 'express-session'))).toBe(false);
    await expect(compile(dir)).resolves.toBe('');
  });

  it('compiles with it installed, and SessionData augments req.session', async () => {
    const dir = makeProject(true);
    dirs.push(dir);
    await expect(compile(dir)).resolves.toBe('');
  });

  it('fails on a wrong use of req.session (the check is real)', async () => {
    const dir = makeProject(false);
    dirs.push(dir);
    writeFileSync(join(dir, 'wrong.ts'), `import type { Request } from 'express';\nimport 'express-session-management';\nexport const n: number = (null as unknown as Request).session.regenerate;\n`);
    await expect(compile(dir)).rejects.toThrow(/wrong\.ts.*error TS2322/s);
  });
});
