import t from 'tap';
import { Buffer } from 'node:buffer';
import { createFingerprintKey, kubeletCredentialHash } from '../credentials/pull-secret.ts';
import { secretViewForReadFailure, secretViewFromObject } from './secret-view.ts';

const keyResult = createFingerprintKey(Buffer.alloc(32, 7));
if (!keyResult.ok) throw new Error(keyResult.error);
const KEY = keyResult.value;
const REF = { namespace: 'tenant-a', name: 'regcred' };
const PASSWORD = 'S3cret-do-not-print';

const base64 = (text: string): string => Buffer.from(text).toString('base64');

function secret(type: string, data: Record<string, string>): unknown {
  return { metadata: { namespace: 'tenant-a', name: 'regcred', uid: 'u1' }, type, data };
}

const cases = [
  {
    name: 'a dockerconfigjson secret gives one credential per registry',
    secret: secret('kubernetes.io/dockerconfigjson', {
      '.dockerconfigjson': base64(
        JSON.stringify({
          auths: { 'registry.example': { username: 'alice', password: PASSWORD } },
        }),
      ),
    }),
    state: 'ok',
    credentials: 1,
  },
  {
    name: 'an Opaque secret is malformed as a pull secret',
    secret: secret('Opaque', { password: base64(PASSWORD) }),
    state: 'malformed',
    problem: /tenant-a\/regcred.*Opaque/,
  },
  {
    name: 'undecodable JSON is malformed',
    secret: secret('kubernetes.io/dockerconfigjson', {
      '.dockerconfigjson': base64(`{"auths": ${PASSWORD}`),
    }),
    state: 'malformed',
    problem: /tenant-a\/regcred.*not valid JSON/,
  },
  {
    name: 'an entry the kubelet refuses makes the whole secret malformed',
    secret: secret('kubernetes.io/dockerconfigjson', {
      '.dockerconfigjson': base64(
        JSON.stringify({
          auths: {
            'good.example': { username: 'alice', password: PASSWORD },
            'bad.example': { auth: '%%%' },
          },
        }),
      ),
    }),
    state: 'malformed',
    problem: /tenant-a\/regcred.*bad\.example.*kubelet rejects the whole secret/,
  },
] as const;

for (const c of cases) {
  t.test(c.name, async (t) => {
    const view = secretViewFromObject(REF, c.secret, KEY);
    t.equal(view.state, c.state);
    t.equal(view.namespace, 'tenant-a');
    t.equal(view.name, 'regcred');
    t.notMatch(JSON.stringify(view), PASSWORD, 'no secret material in the view');
    t.notMatch(JSON.stringify(view), base64(PASSWORD), 'no encoded secret material either');
    if (view.state === 'ok' && 'credentials' in c) {
      t.equal(view.credentials.length, c.credentials);
      t.equal(view.credentials[0]?.credentialHash, kubeletCredentialHash('alice', PASSWORD));
      // check: the sealed capability for verification (its secret is in a closure).
      t.same(Object.keys(view.credentials[0] ?? {}).sort(), [
        'check',
        'credentialHash',
        'fingerprint',
        'matcher',
      ]);
      t.equal(view.credentials[0]?.check?.via, 'self');
    }
    if (view.state !== 'ok' && 'problem' in c) t.match(view.problem, c.problem);
  });
}

t.test('read failures: 404 missing, 403 unreadable, the rest unavailable (may pass)', async (t) => {
  t.match(secretViewForReadFailure(REF, 404, ''), {
    state: 'missing',
    problem: 'pull secret tenant-a/regcred does not exist',
  });
  t.match(secretViewForReadFailure(REF, 403, ''), {
    state: 'unreadable',
    problem: /tenant-a\/regcred is forbidden/,
  });
  t.match(secretViewForReadFailure(REF, 500, ''), {
    state: 'unavailable',
    problem: 'reading pull secret tenant-a/regcred failed: HTTP 500; retrying',
  });
  t.match(secretViewForReadFailure(REF, undefined, 'ECONNREFUSED'), {
    state: 'unavailable',
    problem: 'reading pull secret tenant-a/regcred failed: ECONNREFUSED; retrying',
  });
});
