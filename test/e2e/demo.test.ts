// `npm run demo` must work on a fresh clone: the story plays and the findings are printed.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { requireTools } from '../helpers/real-parts.ts';

const CLI = fileURLToPath(new URL('../../agent/cli.ts', import.meta.url));

t.test('the demo plays the Admin1/Admin2 story and prints the critical finding', async (t) => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [CLI, 'demo', '--listen', '127.0.0.1:0', '--exit'],
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
    if (!requireTools(t, ['containerd', 'ctr', 'docker-registry', 'skopeo', 'htpasswd'])) return;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [CLI, 'demo', '--real', '--listen', '127.0.0.1:0', '--exit'],
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
