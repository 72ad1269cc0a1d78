// The binary's Node.js check (agent/cli.ts): which versions it refuses and what it says. The same
// check on a real older Node, as a process, is test/deploy/old-node.test.ts.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { captureIo } from '../test/helpers/capture-io.ts';
import { main, NODE_MAJOR_NEEDED, nodeVersionProblem } from './cli.ts';

const PACKAGE = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  engines: { node: string };
};

t.test('the version it needs is the one package.json "engines" states', async (t) => {
  t.equal(PACKAGE.engines.node, `>=${NODE_MAJOR_NEEDED}`);
});

t.test('which Node.js versions run pullwatch', async (t) => {
  const cases: [version: string, runs: boolean][] = [
    ['v16.20.2', false],
    ['v18.20.8', false],
    ['v20.20.2', false], // the /usr/bin/node of issue 10
    ['v22.18.0', false], // has import.meta.main and strips types, still too old
    ['v23.11.1', false],
    ['v24.0.0', true], // no import.meta.main yet: the entry compares paths instead
    ['v24.21.0', true],
    ['v25.2.1', true],
    ['v100.0.0', true],
  ];
  for (const [version, runs] of cases) {
    const problem = nodeVersionProblem(version, '/usr/bin/node');
    if (runs) t.equal(problem, undefined, `${version} runs it`);
    else {
      t.equal(
        problem,
        `pullwatch needs Node.js 24 or newer, but /usr/bin/node is Node.js ${version}`,
        `${version} is refused with one line naming both versions`,
      );
    }
  }
  t.ok(nodeVersionProblem('not a version', '/x/node'), 'a version it cannot read is refused');
});

t.test('imported (by a test), it runs nothing by itself; main runs a command', async (t) => {
  const io = captureIo();
  t.equal(await main(['version'], io), 0);
  t.match(io.out(), /^pullwatch \S+ \(revision \S+, Node\.js v\d+\.\d+\.\d+\)\n$/);
  t.equal(io.err(), '');
});
