// `npm run demo` must work on a fresh clone: the story plays and the findings are printed.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';

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
