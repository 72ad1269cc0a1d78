import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startCatchAllCriServer } from '../../test/helpers/catch-all-cri-server.ts';
import { UPSTREAM_CRI_METHODS } from '../../test/helpers/cri-upstream-methods.ts';
import { connectCri } from './client.ts';
import type { CriReader } from './client.ts';
import { parseCriEndpoint } from './endpoint.ts';
import {
  assertReadOnly,
  CRI_API_VERSIONS,
  loadCriServices,
  methodNameOfPath,
  READ_ONLY_CRI_METHODS,
} from './proto.ts';

const readOnlyPaths = (version: string): string[] =>
  Object.entries(READ_ONLY_CRI_METHODS).flatMap(([service, methods]) =>
    methods.map((m) => `/runtime.${version}.${service}/${m}`),
  );

/** Calls every method the client exposes, whatever its name, with a harmless argument. */
async function callEverything(client: CriReader): Promise<void> {
  const proto = Object.getPrototypeOf(client) as Record<string, unknown>;
  for (const name of Object.getOwnPropertyNames(proto)) {
    const member = (client as unknown as Record<string, unknown>)[name];
    if (name === 'constructor' || name === 'close' || typeof member !== 'function') continue;
    await (member as (arg: string) => Promise<unknown>).call(client, 'docker.io/library/x:1');
  }
}

for (const version of CRI_API_VERSIONS) {
  t.test(`the agent's ${version} stubs declare only read-only methods`, async (t) => {
    const services = loadCriServices(version);
    for (const [service, ctor] of Object.entries(services)) {
      const declared = Object.values(ctor.service).map((m) => methodNameOfPath(m.path));
      t.same(
        declared.sort(),
        [...READ_ONLY_CRI_METHODS[service as keyof typeof READ_ONLY_CRI_METHODS]].sort(),
      );
      const mutating = UPSTREAM_CRI_METHODS[service as keyof typeof UPSTREAM_CRI_METHODS].filter(
        (m) => !declared.includes(m),
      );
      for (const m of mutating) {
        const lower = m.charAt(0).toLowerCase() + m.slice(1);
        t.notOk(m in ctor.prototype || lower in ctor.prototype, `${service} stub has no ${m}`);
      }
    }
  });
}

t.test('a proto that grows a mutating RPC is refused at load time', async (t) => {
  t.throws(() => {
    assertReadOnly('ImageService', ['ListImages', 'PullImage']);
  }, /PullImage/);
  t.throws(() => {
    assertReadOnly('RuntimeService', ['Version', 'RemoveContainer']);
  }, /RemoveContainer/);
  t.doesNotThrow(() => {
    assertReadOnly('ImageService', ['ListImages', 'ImageStatus', 'ImageFsInfo']);
  });
});

const cases = [
  { name: 'a v1 runtime', unimplemented: [], negotiated: 'v1' },
  {
    name: 'an old runtime that only speaks v1alpha2',
    unimplemented: ['v1'],
    negotiated: 'v1alpha2',
  },
] as const;

for (const c of cases) {
  t.test(
    `against ${c.name} that implements every CRI method, the agent calls only reads`,
    async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'pullwatch-ro-'));
      t.teardown(() => {
        rmSync(dir, { recursive: true, force: true });
      });
      const server = await startCatchAllCriServer(join(dir, 'cri.sock'), c.unimplemented);
      t.teardown(() => server.stop());
      const endpoint = parseCriEndpoint(server.target);
      if (!endpoint.ok) throw new Error(endpoint.error.message);
      const client = connectCri(endpoint.value);
      t.teardown(() => {
        client.close();
      });

      const version = await client.version();
      t.ok(version.ok && version.value.api === c.negotiated, `negotiated ${c.negotiated}`);
      await callEverything(client);

      const allowed = new Set([...readOnlyPaths('v1'), ...readOnlyPaths('v1alpha2')]);
      const forbidden = server.calls.filter((p) => !allowed.has(p));
      t.same(forbidden, [], 'no call outside the read-only methods');
      // Not vacuous: what the agent asks (its version and its image list) was really asked on
      // the negotiated version, and nothing else: CriReader holds only the calls the agent makes.
      // (On an old runtime, Version is first probed on v1, as the kubelet does.)
      const called = [...new Set(server.calls)].filter((p) =>
        p.startsWith(`/runtime.${c.negotiated}.`),
      );
      t.same(called.sort(), [
        `/runtime.${c.negotiated}.ImageService/ListImages`,
        `/runtime.${c.negotiated}.RuntimeService/Version`,
      ]);
    },
  );
}
