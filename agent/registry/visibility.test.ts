import t from 'tap';
import type { RegistryAuthorization } from '../model/credential.ts';
import type { ManifestTarget } from './address.ts';
import type { ProbeOptions } from './probe.ts';
import type { ProbeOutcome } from './probe-outcome.ts';
import {
  BASIS,
  registryEntryMatches,
  VisibilityResolver,
  type VisibilityResolverOptions,
} from './visibility.ts';

const NAME = 'registry.example.com/team-a/app';
const DIGEST = `sha256:${'ab'.repeat(32)}`;
const OTHER_DIGEST = `sha256:${'cd'.repeat(32)}`;

const alice: RegistryAuthorization = {
  fingerprint: 'fp-alice',
  basicAuthorization: () => 'Basic YWxpY2U6c2VjcmV0',
};
const bob: RegistryAuthorization = {
  fingerprint: 'fp-bob',
  basicAuthorization: () => 'Basic Ym9iOnNlY3JldA==',
};

interface ProbeCall {
  readonly target: ManifestTarget;
  readonly credential: string | undefined;
  readonly options: ProbeOptions;
}

/** A scripted probe: answers from `answer`, records every call. */
function fakeProbe(answer: (call: ProbeCall) => ProbeOutcome | Promise<ProbeOutcome>): {
  readonly calls: ProbeCall[];
  readonly probe: (target: ManifestTarget, options: ProbeOptions) => Promise<ProbeOutcome>;
} {
  const calls: ProbeCall[] = [];
  return {
    calls,
    probe: async (target, options) => {
      const call = { target, credential: options.credential?.fingerprint, options };
      calls.push(call);
      return answer(call);
    },
  };
}

function clock(): { now: () => number; advance: (ms: number) => void } {
  let time = Date.UTC(2026, 0, 1);
  return {
    now: () => time,
    advance: (ms) => {
      time += ms;
    },
  };
}

function resolver(
  probe: VisibilityResolverOptions['probe'],
  options: Omit<VisibilityResolverOptions, 'probe'> = {},
): VisibilityResolver {
  return new VisibilityResolver({ ...options, ...(probe === undefined ? {} : { probe }) });
}

const readable: ProbeOutcome = { result: 'readable' };
const denied: ProbeOutcome = { result: 'denied', status: 401, detail: 'manifest answered 401' };
const notFound: ProbeOutcome = { result: 'not-found' };
const outage: ProbeOutcome = { result: 'error', detail: 'connection refused (ECONNREFUSED)' };

t.test('configured registry lists match by registry and path prefix', async (t) => {
  const cases: readonly [entry: string, name: string, matches: boolean][] = [
    ['registry.example.com', NAME, true],
    ['REGISTRY.example.com', NAME, true],
    ['registry.example.com/', NAME, true],
    ['registry.example.com/team-a', NAME, true],
    ['registry.example.com/team-a/app', NAME, true],
    ['registry.example.com/team', NAME, false],
    ['registry.example.com:5000', NAME, false],
    ['example.com', NAME, false],
    ['docker.io', 'docker.io/library/nginx', true],
    ['index.docker.io', 'docker.io/library/nginx', true],
    ['registry-1.docker.io/library', 'docker.io/library/nginx', true],
    ['127.0.0.1:5000', '127.0.0.1:5000/app', true],
    ['', NAME, false],
    ['registry.example.com', 'not-a-name', false],
  ];
  for (const [entry, name, matches] of cases) {
    t.equal(registryEntryMatches(entry, name), matches, `${entry} vs ${name}`);
  }
});

t.test('configuration answers before any probe', async (t) => {
  const fake = fakeProbe(() => denied);
  const r = resolver(fake.probe, {
    publicRegistries: ['registry.example.com/team-a', 'both.example.com'],
    nodeCredentialRegistries: ['ecr.example.com', 'both.example.com'],
  });
  t.same(await r.repositoryVisibility(NAME, DIGEST), {
    visibility: 'public',
    basis: 'listed in --public-registries',
    nodeCredentials: false,
  });
  t.same(await r.repositoryVisibility('ecr.example.com/app', DIGEST), {
    visibility: 'unknown',
    basis: BASIS.nodeCredentials,
    nodeCredentials: true,
  });
  t.same(await r.repositoryVisibility('both.example.com/app', DIGEST), {
    visibility: 'public',
    basis: 'listed in --public-registries',
    nodeCredentials: true,
  });
  t.equal(fake.calls.length, 0, 'no probe for configured registries');
  t.same(await r.repositoryVisibility('registry.example.com/team-b/app', DIGEST), {
    visibility: 'private',
    basis: 'anonymous manifest request answered 401',
    nodeCredentials: false,
  });
  t.equal(fake.calls.length, 1, 'other repositories of the registry are probed');
});

t.test('probe results become visibility; the probe is anonymous', async (t) => {
  const outcomes: Record<string, ProbeOutcome> = {
    'r.example.com/public': readable,
    'r.example.com/private': { result: 'denied', status: 403, detail: 'x' },
    'r.example.com/gone': notFound,
    'r.example.com/down': outage,
  };
  const fake = fakeProbe(
    ({ target }) => outcomes[`${target.registry}/${target.repository}`] ?? outage,
  );
  const r = resolver(fake.probe, { insecureRegistries: ['r.example.com'], probeTimeoutMs: 1234 });
  t.same(await r.repositoryVisibility('r.example.com/public', DIGEST), {
    visibility: 'public',
    basis: BASIS.readable,
    nodeCredentials: false,
  });
  t.same(await r.repositoryVisibility('r.example.com/private', DIGEST), {
    visibility: 'private',
    basis: 'anonymous manifest request answered 403',
    nodeCredentials: false,
  });
  t.same(await r.repositoryVisibility('r.example.com/gone', DIGEST), {
    visibility: 'unknown',
    basis: BASIS.notFound,
    nodeCredentials: false,
  });
  t.same(await r.repositoryVisibility('r.example.com/down', DIGEST), {
    visibility: 'unknown',
    basis: 'registry probe failed: connection refused (ECONNREFUSED)',
    nodeCredentials: false,
  });
  t.ok(
    fake.calls.every((c) => c.credential === undefined),
    'visibility probes never carry a credential',
  );
  t.same(fake.calls[0]?.target, {
    registry: 'r.example.com',
    repository: 'public',
    reference: DIGEST,
  });
  t.match(fake.calls[0]?.options, { insecureRegistries: ['r.example.com'], timeoutMs: 1234 });
  t.same(r.stats().visibility, {
    readable: 1,
    denied: 1,
    'not-found': 1,
    error: 1,
    'rate-limited': 0,
    cached: 0,
  });
});

t.test('--registry-probe=off answers unknown without network', async (t) => {
  const fake = fakeProbe(() => readable);
  const r = resolver(fake.probe, { registryProbe: 'off', publicRegistries: ['docker.io'] });
  t.same(await r.repositoryVisibility(NAME, DIGEST), {
    visibility: 'unknown',
    basis: 'registry probing is off (--registry-probe=off)',
    nodeCredentials: false,
  });
  t.equal(
    (await r.repositoryVisibility('docker.io/library/nginx', 'latest')).visibility,
    'public',
    'configuration still answers',
  );
  t.equal(await r.verifyCredential(alice, NAME, DIGEST), 'unknown', 'no credential checks either');
  t.equal(fake.calls.length, 0);
});

t.test('a name without a repository is unknown, never probed', async (t) => {
  const fake = fakeProbe(() => readable);
  const r = resolver(fake.probe);
  t.equal((await r.repositoryVisibility('just-a-host', DIGEST)).basis, BASIS.invalidName);
  t.equal(await r.verifyCredential(alice, 'host/', DIGEST), 'unknown');
  t.equal(fake.calls.length, 0);
});

t.test('answers are cached for the answer TTL, per repository', async (t) => {
  const c = clock();
  const fake = fakeProbe(() => denied);
  const r = resolver(fake.probe, { now: c.now, answerTtlMs: 60_000 });
  await r.repositoryVisibility(NAME, DIGEST);
  c.advance(59_999);
  t.equal((await r.repositoryVisibility(NAME, OTHER_DIGEST)).visibility, 'private');
  t.equal(fake.calls.length, 1, 'another digest of the same repository uses the answer');
  c.advance(1);
  await r.repositoryVisibility(NAME, DIGEST);
  t.equal(fake.calls.length, 2, 'asked again once the TTL is over');
  t.equal(r.stats().visibility.cached, 1);
});

t.test('a registry outage keeps the last known visibility', async (t) => {
  const c = clock();
  let next: ProbeOutcome = denied;
  const fake = fakeProbe(() => next);
  const r = resolver(fake.probe, { now: c.now, answerTtlMs: 60_000, errorTtlMs: 10_000 });
  t.equal((await r.repositoryVisibility(NAME, DIGEST)).visibility, 'private');

  next = outage;
  c.advance(60_000);
  const kept = await r.repositoryVisibility(NAME, DIGEST);
  t.equal(kept.visibility, 'private', 'an outage does not flip private to unknown');
  t.match(
    kept.basis,
    /^anonymous manifest request answered 401 \(last known; now: registry probe failed: connection refused/,
  );
  t.equal(fake.calls.length, 2);

  c.advance(9_999);
  t.equal((await r.repositoryVisibility(NAME, DIGEST)).visibility, 'private');
  t.equal(fake.calls.length, 2, 'a failed probe is not retried within the error TTL');

  c.advance(1);
  next = readable;
  t.same(await r.repositoryVisibility(NAME, DIGEST), {
    visibility: 'public',
    basis: BASIS.readable,
    nodeCredentials: false,
  });
  t.equal(fake.calls.length, 3, 'retried after the error TTL; a real answer replaces the old one');
});

t.test('a missing manifest keeps the last known visibility too', async (t) => {
  const c = clock();
  let next: ProbeOutcome = readable;
  const fake = fakeProbe(() => next);
  const r = resolver(fake.probe, { now: c.now, answerTtlMs: 1000 });
  await r.repositoryVisibility(NAME, DIGEST);
  next = notFound;
  c.advance(1000);
  const kept = await r.repositoryVisibility(NAME, OTHER_DIGEST);
  t.equal(kept.visibility, 'public');
  t.match(kept.basis, /last known; now: anonymous manifest request answered 404/);
});

t.test('concurrent identical requests share one probe', async (t) => {
  let release: (outcome: ProbeOutcome) => void = () => undefined;
  const fake = fakeProbe(
    () =>
      new Promise<ProbeOutcome>((resolve) => {
        release = resolve;
      }),
  );
  const r = resolver(fake.probe);
  const answers = Promise.all([
    r.repositoryVisibility(NAME, DIGEST),
    r.repositoryVisibility(NAME, DIGEST),
    r.repositoryVisibility(NAME, DIGEST),
  ]);
  await Promise.resolve();
  t.equal(fake.calls.length, 1, 'one probe in flight');
  release(denied);
  const results = await answers;
  t.ok(results.every((v) => v.visibility === 'private'));
  t.equal(r.stats().visibility.cached, 2, 'the two joiners count as cached');
  t.equal(r.stats().visibility.denied, 1);
  await r.repositoryVisibility(NAME, DIGEST);
  t.equal(fake.calls.length, 1, 'the settled probe left its answer in the cache');
});

t.test('concurrent credential checks: one probe per fingerprint', async (t) => {
  const pending: ((outcome: ProbeOutcome) => void)[] = [];
  const fake = fakeProbe(
    () =>
      new Promise<ProbeOutcome>((resolve) => {
        pending.push(resolve);
      }),
  );
  const r = resolver(fake.probe);
  const verdicts = Promise.all([
    r.verifyCredential(alice, NAME, DIGEST),
    r.verifyCredential(alice, NAME, DIGEST),
    r.verifyCredential(bob, NAME, DIGEST),
  ]);
  t.same(
    fake.calls.map((c) => c.credential),
    ['fp-alice', 'fp-bob'],
  );
  pending[0]?.(readable);
  pending[1]?.(denied);
  t.same(await verdicts, ['can-read', 'can-read', 'cannot-read']);
  t.equal(r.stats().credential.cached, 1);
});

t.test('a probe that throws is an error and does not wedge later requests', async (t) => {
  let calls = 0;
  const r = resolver(
    async () => {
      calls++;
      if (calls === 1) throw new TypeError('boom');
      return readable;
    },
    { errorTtlMs: 0 },
  );
  const first = await r.repositoryVisibility(NAME, DIGEST);
  t.same(first, {
    visibility: 'unknown',
    basis: 'registry probe failed: the probe failed unexpectedly (TypeError)',
    nodeCredentials: false,
  });
  t.equal((await r.repositoryVisibility(NAME, DIGEST)).visibility, 'public');
});

t.test('credential verdicts', async (t) => {
  const c = clock();
  const answers: Record<string, ProbeOutcome> = {
    'fp-alice': readable,
    'fp-bob': denied,
  };
  const fake = fakeProbe(({ credential }) => answers[credential ?? ''] ?? outage);
  const r = resolver(fake.probe, { now: c.now });
  t.equal(await r.verifyCredential(alice, NAME, DIGEST), 'can-read');
  t.equal(await r.verifyCredential(bob, NAME, DIGEST), 'cannot-read');
  t.same(
    fake.calls.map((call) => [call.credential, call.target.reference]),
    [
      ['fp-alice', DIGEST],
      ['fp-bob', DIGEST],
    ],
  );
  t.equal(fake.calls[0]?.options.credential, alice, 'the capability itself is handed to the probe');
});

t.test('credential verdict TTLs: 1 h for answers, 5 min for errors', async (t) => {
  const c = clock();
  let next: ProbeOutcome = readable;
  const fake = fakeProbe(() => next);
  const r = resolver(fake.probe, { now: c.now });

  t.equal(await r.verifyCredential(alice, NAME, DIGEST), 'can-read');
  c.advance(60 * 60 * 1000 - 1);
  t.equal(await r.verifyCredential(alice, NAME, DIGEST), 'can-read');
  t.equal(fake.calls.length, 1, 'cached within the hour');

  c.advance(1);
  next = outage;
  t.equal(
    await r.verifyCredential(alice, NAME, DIGEST),
    'can-read',
    'an outage keeps the last verdict',
  );
  t.equal(fake.calls.length, 2);
  c.advance(5 * 60 * 1000 - 1);
  await r.verifyCredential(alice, NAME, DIGEST);
  t.equal(fake.calls.length, 2, 'the error stands for five minutes');
  c.advance(1);
  next = denied;
  t.equal(await r.verifyCredential(alice, NAME, DIGEST), 'cannot-read');
  t.equal(fake.calls.length, 3);

  t.equal(await r.verifyCredential(bob, NAME, OTHER_DIGEST), 'cannot-read');
  next = outage;
  t.equal(
    await r.verifyCredential(bob, 'r.example.com/x', DIGEST),
    'unknown',
    'error, nothing known',
  );
  t.same(r.stats().credential, {
    readable: 1,
    denied: 2,
    'not-found': 0,
    error: 2,
    'rate-limited': 0,
    cached: 2,
  });
});

t.test('not-found with a credential is unknown', async (t) => {
  const r = resolver(fakeProbe(() => notFound).probe);
  t.equal(await r.verifyCredential(alice, NAME, DIGEST), 'unknown');
});

t.test('verifyCredentials: false answers unknown without network', async (t) => {
  const fake = fakeProbe(() => readable);
  const r = resolver(fake.probe, { verifyCredentials: false });
  t.equal(await r.verifyCredential(alice, NAME, DIGEST), 'unknown');
  t.equal(fake.calls.length, 0);
  t.equal(
    (await r.repositoryVisibility(NAME, DIGEST)).visibility,
    'public',
    'visibility still probes',
  );
});

t.test("rate limit: a registry host's probes beyond its burst are not sent", async (t) => {
  const c = clock();
  const fake = fakeProbe(() => denied);
  const r = resolver(fake.probe, { now: c.now, rateLimit: { perSecond: 1, burst: 2 } });
  const names = ['a', 'b', 'c', 'd'].map((n) => `r.example.com/${n}`);
  const results = [];
  for (const name of names) results.push(await r.repositoryVisibility(name, DIGEST));
  t.same(
    results.map((v) => v.visibility),
    ['private', 'private', 'unknown', 'unknown'],
  );
  t.equal(results[2]?.basis, BASIS.rateLimited);
  t.equal(
    await r.verifyCredential(alice, 'r.example.com/a', DIGEST),
    'unknown',
    'shared with credential checks on that host',
  );
  t.equal(fake.calls.length, 2);
  t.equal(r.stats().visibility['rate-limited'], 2);
  t.equal(r.stats().credential['rate-limited'], 1);
  t.equal(
    (await r.repositoryVisibility('other.example.com/a', DIGEST)).visibility,
    'private',
    'another registry host has a limit of its own',
  );
  t.equal(fake.calls.length, 3);

  c.advance(1000);
  t.equal((await r.repositoryVisibility(names[2] ?? '', DIGEST)).visibility, 'private');
  t.equal(fake.calls.length, 4, 'a rate-limited answer is not cached');
});

t.test('rate-limited requests fall back to the last known answer', async (t) => {
  const c = clock();
  const fake = fakeProbe(() => readable);
  const r = resolver(fake.probe, {
    now: c.now,
    answerTtlMs: 1000,
    rateLimit: { perSecond: 0.001, burst: 2 },
  });
  await r.repositoryVisibility(NAME, DIGEST);
  await r.verifyCredential(alice, NAME, DIGEST);
  c.advance(1000);
  const kept = await r.repositoryVisibility(NAME, DIGEST);
  t.equal(kept.visibility, 'public');
  t.match(kept.basis, /last known; now: not probed: the registry's probe rate limit was reached/);
  t.equal(await r.verifyCredential(alice, NAME, DIGEST), 'can-read');
});

t.test('caches are bounded', async (t) => {
  const fake = fakeProbe(() => readable);
  const r = resolver(fake.probe, {
    maxCacheEntries: 3,
    rateLimit: { perSecond: 1000, burst: 1000 },
  });
  for (let i = 0; i < 10; i++) {
    await r.repositoryVisibility(`r.example.com/repo-${i}`, DIGEST);
    await r.verifyCredential(alice, `r.example.com/repo-${i}`, DIGEST);
  }
  t.equal(r.stats().cacheEntries, 6, 'three visibility answers and three verdicts');
  await r.repositoryVisibility('r.example.com/repo-9', DIGEST);
  t.equal(fake.calls.length, 20, 'the most recent entry is still cached');
  await r.repositoryVisibility('r.example.com/repo-0', DIGEST);
  t.equal(fake.calls.length, 21, 'the oldest entry was evicted and is probed again');
});

t.test('definite answers keep their long TTL less the jitter; unknowns stay short', async (t) => {
  const c = clock();
  const hour = 3_600_000;
  const outcomes: Record<string, ProbeOutcome> = {
    'r.example.com/private': denied,
    'r.example.com/gone': notFound,
    'r.example.com/down': outage,
  };
  const fake = fakeProbe(({ target }) => outcomes[`r.example.com/${target.repository}`] ?? outage);
  const r = resolver(fake.probe, {
    now: c.now,
    answerTtlMs: 12 * hour,
    answerTtlJitter: 0.1,
    random: () => 0.5,
    notFoundTtlMs: hour,
    errorTtlMs: 5 * 60_000,
  });
  const ask = async (): Promise<string[]> => {
    const before = fake.calls.length;
    await r.repositoryVisibility('r.example.com/private', DIGEST);
    await r.repositoryVisibility('r.example.com/gone', DIGEST);
    await r.repositoryVisibility('r.example.com/down', DIGEST);
    await r.verifyCredential(alice, 'r.example.com/private', DIGEST);
    return fake.calls
      .slice(before)
      .map((call) => `${call.target.repository}${call.credential ? ' (alice)' : ''}`);
  };
  const cases: readonly { name: string; after: number; expected: string[] }[] = [
    {
      name: 'first asked: everything probed',
      after: 0,
      expected: ['private', 'gone', 'down', 'private (alice)'],
    },
    { name: 'after 5 min: only the failed probe again', after: 5 * 60_000, expected: ['down'] },
    { name: 'after 1 h: the 404s too', after: 55 * 60_000, expected: ['gone', 'down'] },
    {
      name: 'at 11.3 h: the definite answers still stand',
      after: 10.3 * hour,
      expected: ['gone', 'down'],
    },
    {
      name: 'at 11.4 h (12 h less 5 %): asked again',
      after: 0.1 * hour,
      expected: ['private', 'down', 'private (alice)'],
    },
  ];
  for (const x of cases) {
    c.advance(x.after);
    t.same(await ask(), x.expected, x.name);
  }
});

t.test('a verdict holds for the repository, and is forgotten with its credential', async (t) => {
  const fake = fakeProbe(() => readable);
  const r = resolver(fake.probe);
  t.equal(await r.verifyCredential(alice, NAME, DIGEST), 'can-read');
  t.equal(await r.verifyCredential(alice, NAME, OTHER_DIGEST), 'can-read');
  t.equal(fake.calls.length, 1, 'another digest of the repository: no second probe');
  t.equal(await r.verifyCredential(bob, NAME, DIGEST), 'can-read');
  t.equal(fake.calls.length, 2, 'another credential is another question');
  r.forgetCredential(alice.fingerprint);
  await r.verifyCredential(alice, NAME, DIGEST);
  await r.verifyCredential(bob, NAME, DIGEST);
  t.same(
    fake.calls.map((call) => call.credential),
    ['fp-alice', 'fp-bob', 'fp-alice'],
    "only the forgotten credential's verdict is asked again",
  );
});

t.test("a verdict answers the challenge the host's visibility probe saw", async (t) => {
  const challenge = { scheme: 'Basic', realm: 'r' } as const;
  const fake = fakeProbe(({ options }) => {
    if (options.credential === undefined) options.onChallenge?.(challenge);
    return options.credential === undefined ? denied : readable;
  });
  const r = resolver(fake.probe);
  await r.verifyCredential(alice, 'other.example.com/app', DIGEST);
  await r.repositoryVisibility(NAME, DIGEST);
  await r.verifyCredential(alice, NAME, DIGEST);
  t.same(
    fake.calls.map((call) => call.options.knownChallenge),
    [undefined, undefined, challenge],
    'known after the anonymous probe of that host, and only for that host',
  );
});

t.test('probes beyond the concurrency cap wait for a place', async (t) => {
  const pending: ((outcome: ProbeOutcome) => void)[] = [];
  const fake = fakeProbe(
    () =>
      new Promise<ProbeOutcome>((resolve) => {
        pending.push(resolve);
      }),
  );
  const r = resolver(fake.probe, { rateLimit: { perSecond: 100, burst: 100, concurrency: 2 } });
  const answers = Promise.all(
    ['a', 'b', 'c'].map((n) => r.repositoryVisibility(`r.example.com/${n}`, DIGEST)),
  );
  t.equal(fake.calls.length, 2, 'two in flight');
  pending[0]?.(denied);
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(fake.calls.length, 3, 'the third starts when one is done');
  pending[1]?.(denied);
  pending[2]?.(readable);
  t.same(
    (await answers).map((a) => a.visibility),
    ['private', 'private', 'public'],
  );
});
