// Which credentials a secret's new read no longer holds: their kept registry answers go.
import t from 'tap';
import type { CredentialFingerprint, CredentialHash } from '../model/credential.ts';
import type { SecretView } from '../model/snapshot.ts';
import { droppedFingerprints } from './secret-cache.ts';

const ref = { namespace: 'tenant-a', name: 'regcred' };
const holding = (...fingerprints: string[]): SecretView => ({
  state: 'ok',
  ...ref,
  credentials: fingerprints.map((fingerprint) => ({
    matcher: { indexKey: 'r.example.com', host: 'r.example.com', port: '', path: '' },
    fingerprint: fingerprint as CredentialFingerprint,
    credentialHash: `hash-${fingerprint}` as CredentialHash,
  })),
});
const missing: SecretView = { state: 'missing', ...ref, problem: 'pull secret is missing' };

const cases: readonly {
  name: string;
  before: SecretView | undefined;
  after: SecretView;
  expected: string[];
}[] = [
  { name: 'first read: nothing was known', before: undefined, after: holding('a'), expected: [] },
  {
    name: 'read again, unchanged',
    before: holding('a', 'b'),
    after: holding('a', 'b'),
    expected: [],
  },
  {
    name: 'one credential rotated',
    before: holding('a', 'b'),
    after: holding('a', 'c'),
    expected: ['b'],
  },
  { name: 'the secret was deleted', before: holding('a', 'a'), after: missing, expected: ['a'] },
  { name: 'it was missing before', before: missing, after: holding('a'), expected: [] },
];
for (const c of cases) t.same(droppedFingerprints(c.before, c.after), c.expected, c.name);
