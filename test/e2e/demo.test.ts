// `npm run demo` must work on a fresh clone: the story plays and the findings are printed.
// The tests run the script that package.json's "demo" names (node test/kit/demo/main.ts).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { requireTools } from '../helpers/real-parts.ts';
import { REAL_WORLD_TOOLS } from '../helpers/real-world.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const SCRIPTS = (
  JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  }
).scripts;
const DEMO = join(REPO, /^node (\S+)$/.exec(SCRIPTS.demo ?? '')?.[1] ?? 'no demo script');

t.test('npm run demo runs the demo from test/kit, outside the shipped agent', async (t) => {
  t.equal(SCRIPTS.demo, 'node test/kit/demo/main.ts');
});

t.test('the demo plays the Admin1/Admin2 story and prints the critical finding', async (t) => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [DEMO, '--listen', '127.0.0.1:0', '--exit'],
    {
      timeout: 60_000,
    },
  );
  t.match(stdout, /1\. Admin1 creates admin1-pod/);
  t.match(stdout, /pullwatch records who brought it: tenant-a \(secret image-pull-secret-1\)/);
  t.match(stdout, /CRITICAL\s+unauthorized-cached-image-use\s+tenant-b\/admin2-pod\/app/);
  t.match(stdout, /MEDIUM\s+private-image-exposed\s+exposed: tenant-b/);
  t.match(stdout, /curl -s http:\/\/127\.0\.0\.1:\d+\/api\/v1\/findings/);
  t.notMatch(stdout, /demo-password-never-shown/, 'the story secret is never printed');
});

t.test(
  'demo --real plays the same story on a real containerd and a real private registry',
  async (t) => {
    if (!requireTools(t, REAL_WORLD_TOOLS)) return;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [DEMO, '--real', '--listen', '127.0.0.1:0', '--exit'],
      { timeout: 90_000 },
    );
    t.match(stdout, /real containerd at unix:\/\//);
    t.match(stdout, /The image is private: anonymous manifest request answered 401/);
    t.match(
      stdout,
      /CRITICAL\s+unauthorized-cached-image-use\s+tenant-b\/admin2-pod\/app\s+127\.0\.0\.1:\d+\/team-a/,
    );
  },
);
