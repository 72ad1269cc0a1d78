// ImageProofs.provenNow, the webhook's cache-hit path: a proof is answered without waiting only
// when everything it rests on is at hand (fresh secret views, a kept proof), and then it is
// the answer prove() gave; anything else sends the webhook to prove(), which asks.
import t from 'tap';
import { dockerConfigSecret } from '../../test/kit/embedded/kubelet-pods.ts';
import { createFingerprintKey } from '../credentials/pull-secret.ts';
import { secretViewFromObject } from '../kube/secret-view.ts';
import type { SecretView } from '../model/snapshot.ts';
import { ImageProofs } from './image-proofs.ts';

const key = createFingerprintKey(Buffer.alloc(32, 7));
if (!key.ok) throw new Error(key.error);
const REGISTRY = 'registry.example:5000';
const PRIVATE = `${REGISTRY}/team-a/app:v1`;
const OTHER = `${REGISTRY}/team-a/other:v1`;
const POD = { namespace: 'team-a', pullSecretNames: ['pull'] };

const view = (password: string): SecretView =>
  secretViewFromObject(
    { namespace: 'team-a', name: 'pull' },
    dockerConfigSecret('team-a', 'pull', REGISTRY, { username: 'team-a', password }),
    key.value,
  );

interface World {
  /** The secret cache's fresh view; undefined when it would have to be read. */
  fresh: SecretView | undefined;
  readonly proofs: ImageProofs;
  readonly asked: string[];
}

function world(): World {
  const w: { fresh: SecretView | undefined; asked: string[] } = {
    fresh: view('one'),
    asked: [],
  };
  const proofs = new ImageProofs({
    ports: {
      secret: () => Promise.resolve(w.fresh ?? view('one')),
      secretNow: () => w.fresh,
      visibility: (name) => {
        w.asked.push(`visibility ${name}`);
        return Promise.resolve({ visibility: 'private', basis: '401', nodeCredentials: false });
      },
      verify: (_authorization, name) => {
        w.asked.push(`verify ${name}`);
        return Promise.resolve('can-read');
      },
    },
  });
  return Object.assign(w, { proofs });
}

const cases: readonly {
  readonly name: string;
  readonly images: readonly string[];
  /** Done before provenNow is asked. */
  readonly before: (w: World) => Promise<unknown>;
  readonly expected: Record<string, string> | undefined;
}[] = [
  {
    name: 'nothing proven yet: undefined (prove() asks)',
    images: [PRIVATE],
    before: () => Promise.resolve(),
    expected: undefined,
  },
  {
    name: "a proven image of the team's next pod: at once",
    images: [PRIVATE, PRIVATE],
    before: (w) => w.proofs.prove(POD, [PRIVATE]),
    expected: { [PRIVATE]: 'proven:pod-secret' },
  },
  {
    name: 'one image proven, another not yet: undefined',
    images: [PRIVATE, OTHER],
    before: (w) => w.proofs.prove(POD, [PRIVATE]),
    expected: undefined,
  },
  {
    name: 'the secret must be read again (not fresh in its cache): undefined',
    images: [PRIVATE],
    before: async (w) => {
      await w.proofs.prove(POD, [PRIVATE]);
      w.fresh = undefined;
    },
    expected: undefined,
  },
  {
    name: 'the secret was re-read and holds the same credential: the kept proof',
    images: [PRIVATE],
    before: async (w) => {
      await w.proofs.prove(POD, [PRIVATE]);
      w.fresh = view('one');
    },
    expected: { [PRIVATE]: 'proven:pod-secret' },
  },
  {
    name: 'the secret was rotated to another credential: undefined (its proof is asked)',
    images: [PRIVATE],
    before: async (w) => {
      await w.proofs.prove(POD, [PRIVATE]);
      w.fresh = view('two');
    },
    expected: undefined,
  },
  {
    name: 'a secret that could not be read: undefined',
    images: [PRIVATE],
    before: async (w) => {
      await w.proofs.prove(POD, [PRIVATE]);
      w.fresh = { state: 'unavailable', namespace: 'team-a', name: 'pull', problem: 'timeout' };
    },
    expected: undefined,
  },
  {
    name: 'a reference the kubelet cannot parse: proven at once, nothing asked',
    images: ['Not//An:Image'],
    before: () => Promise.resolve(),
    expected: { 'Not//An:Image': 'proven:invalid-reference' },
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const w = world();
    await c.before(w);
    const asked = w.asked.length;
    const now = w.proofs.provenNow(POD, c.images);
    t.same(
      now === undefined
        ? undefined
        : Object.fromEntries(
            [...now].map(([image, p]) => [image, p.kind === 'proven' ? `proven:${p.by}` : p.kind]),
          ),
      c.expected,
    );
    t.equal(w.asked.length, asked, 'provenNow never asks a registry');
  });
}
