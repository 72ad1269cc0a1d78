// The owner of registry questions: what it asks, what it answers while the registry is silent or
// fails, and that detection sees the same answers object until an answer changes.
import t from 'tap';
import { DetectionMemory } from '../detect/memory.ts';
import {
  cachedImage,
  container,
  credential,
  pod,
  secret,
  snapshotOf,
} from '../../test/kit/snapshot-builder.ts';
import {
  SETTLED_UNKNOWN,
  type CredentialVerdict,
  type CredentialView,
  type RepositoryVisibility,
} from '../model/snapshot.ts';
import type { RegistryPort } from './ports.ts';
import { RegistryQuestions } from './registry-questions.ts';

const REG = 'registry.example.com';
const APP = `${REG}/team-a/app:v1`;

function verifiable(c: CredentialView): CredentialView {
  return {
    ...c,
    check: {
      via: 'self',
      authorization: { fingerprint: c.fingerprint, basicAuthorization: () => 'Basic eA==' },
    },
  };
}

const snapshot = snapshotOf({
  images: [cachedImage('app', { tags: [APP] })],
  pods: [
    pod('team-b', 'always', [container(APP, { policy: 'Always' })], { pullSecrets: ['pull'] }),
  ],
  secrets: [secret('team-b', 'pull', [verifiable(credential(REG, 'b'))])],
});

interface Harness {
  readonly questions: RegistryQuestions;
  readonly asked: string[];
  readonly errors: unknown[];
  answered: number;
}

function harness(port: Partial<RegistryPort>, now: () => number = () => 1_000_000): Harness {
  const h: Harness = {
    asked: [],
    errors: [],
    answered: 0,
    questions: undefined as unknown as RegistryQuestions,
  };
  const registry = {
    repositoryVisibility: (name: string): Promise<RepositoryVisibility> => {
      h.asked.push(`visibility ${name}`);
      return Promise.resolve({ visibility: 'private', basis: 'test', nodeCredentials: false });
    },
    verifyCredential: (_c: unknown, name: string): Promise<CredentialVerdict> => {
      h.asked.push(`verify ${name}`);
      return Promise.resolve('can-read');
    },
    probeCounts: () => new Map<string, number>(),
    ...port,
  } satisfies RegistryPort;
  return Object.assign(h, {
    questions: new RegistryQuestions({
      registry,
      now,
      onAnswer: () => {
        h.answered += 1;
      },
      onError: (e) => h.errors.push(e),
    }),
  });
}

const settled = async (h: Harness) => {
  while (!h.questions.settled()) await new Promise((r) => setImmediate(r));
};

/**
 * askFor on the test snapshot at a given time, with one DetectionMemory throughout: how many
 * questions (starting with `kind`) reached the registry port.
 */
function askingAt(
  h: Harness,
  setNow: (at: number) => void,
  kind = '',
): (at: number) => Promise<number> {
  const memory = new DetectionMemory();
  return async (at) => {
    setNow(at);
    h.asked.length = 0;
    h.questions.askFor(snapshot, memory);
    await settled(h);
    return h.asked.filter((q) => q.startsWith(kind)).length;
  };
}

t.test(
  'asks once per repository and credential while the answers are fresh, Always included',
  async (t) => {
    const h = harness({});
    const memory = new DetectionMemory();
    h.questions.askFor(snapshot, memory);
    await settled(h);
    h.questions.askFor(snapshot, memory);
    await settled(h);
    t.same(h.asked.sort(), [`verify ${REG}/team-a/app`, `visibility ${REG}/team-a/app`]);
    t.same([...h.questions.answers().verdicts.values()], ['can-read']);
  },
);

t.test(
  'a question that fails is answered "unknown", so nothing waits on it for ever',
  async (t) => {
    const h = harness({ verifyCredential: () => Promise.reject(new Error('connection reset')) });
    h.questions.askFor(snapshot, new DetectionMemory());
    await settled(h);
    t.same([...h.questions.answers().verdicts.values()], ['unknown']);
    t.equal(h.errors.length, 1);
    t.equal(h.answered, 2, 'both questions ended in a call back');
  },
);

t.test('the answers object stays the same until an answer changes', async (t) => {
  const h = harness({});
  const empty = h.questions.answers();
  t.equal(h.questions.answers(), empty);
  h.questions.askFor(snapshot, new DetectionMemory());
  await settled(h);
  const answered = h.questions.answers();
  t.not(answered, empty);
  t.equal(h.questions.answers(), answered);
  h.questions.forgetOld(); // nothing is old yet
  t.equal(h.questions.answers(), answered);
});

t.test('an "unknown" answer is asked again after a minute, a definite one after ten', async (t) => {
  let now = 1_000_000;
  let answer: 'unknown' | 'known' = 'unknown';
  const h = harness(
    {
      repositoryVisibility: (name: string): Promise<RepositoryVisibility> => {
        h.asked.push(`visibility ${name}`);
        return Promise.resolve(
          answer === 'unknown'
            ? { visibility: 'unknown', basis: 'not probed: rate limit', nodeCredentials: false }
            : { visibility: 'private', basis: 'test', nodeCredentials: false },
        );
      },
      verifyCredential: (_c: unknown, name: string): Promise<CredentialVerdict> => {
        h.asked.push(`verify ${name}`);
        return Promise.resolve(answer === 'unknown' ? 'unknown' : 'can-read');
      },
    },
    () => now,
  );
  const askAt = askingAt(h, (at) => {
    now = at;
  });
  const start = 1_000_000;
  const cases: readonly { name: string; at: number; then?: 'known'; asked: number }[] = [
    { name: 'first round: both questions asked, both unknown', at: start, asked: 2 },
    { name: '30 s later: the unknown answers still stand', at: start + 30_000, asked: 0 },
    {
      name: 'a minute and more later: both asked again',
      at: start + 61_000,
      then: 'known',
      asked: 2,
    },
    { name: 'five minutes after the definite answers: they stand', at: start + 361_000, asked: 0 },
    { name: 'ten minutes after them: asked again', at: start + 662_000, asked: 2 },
  ];
  for (const c of cases) {
    if (c.then !== undefined) answer = c.then;
    t.equal(await askAt(c.at), c.asked, c.name);
  }
  t.same([...h.questions.answers().verdicts.values()], ['can-read']);
});

t.test(
  'an "unknown" the settings decide stands ten minutes, and a repeat changes nothing',
  async (t) => {
    let now = 1_000_000;
    const answers: Record<string, RepositoryVisibility> = {
      'probing off': {
        visibility: 'unknown',
        basis: SETTLED_UNKNOWN.probeOff,
        nodeCredentials: false,
      },
      'not a repository': {
        visibility: 'unknown',
        basis: SETTLED_UNKNOWN.invalidName,
        nodeCredentials: false,
      },
    };
    for (const [name, answer] of Object.entries(answers)) {
      const h = harness(
        {
          repositoryVisibility: (repo: string): Promise<RepositoryVisibility> => {
            h.asked.push(`visibility ${repo}`);
            return Promise.resolve(answer);
          },
        },
        () => now,
      );
      const askAt = askingAt(
        h,
        (at) => {
          now = at;
        },
        'visibility',
      );
      const start = 1_000_000;
      t.equal(await askAt(start), 1, `${name}: asked`);
      const first = h.questions.answers();
      t.equal(await askAt(start + 61_000), 0, `${name}: a minute later it still stands`);
      t.equal(await askAt(start + 601_000), 1, `${name}: ten minutes later it is asked again`);
      t.equal(h.questions.answers(), first, `${name}: the same answer keeps the answers object`);
    }
  },
);
