import t from 'tap';
import {
  parseChallenges,
  parseWwwAuthenticate,
  preferredChallenge,
  type AuthChallenge,
} from './challenge.ts';

interface Case {
  readonly name: string;
  readonly header: string;
  readonly expected: readonly AuthChallenge[];
}

const basic = (realm?: string): AuthChallenge => ({ scheme: 'Basic', realm });
const bearer = (realm?: string, service?: string, scope?: string): AuthChallenge => ({
  scheme: 'Bearer',
  realm,
  service,
  scope,
});

const cases: readonly Case[] = [
  {
    name: "distribution's htpasswd auth",
    header: 'Basic realm="pullwatch-test"',
    expected: [basic('pullwatch-test')],
  },
  {
    name: 'Docker Hub token challenge',
    header:
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"',
    expected: [
      bearer('https://auth.docker.io/token', 'registry.docker.io', 'repository:library/nginx:pull'),
    ],
  },
  {
    name: 'a comma inside a quoted scope is part of the value',
    header: 'Bearer realm="https://a/token",scope="repository:x/y:pull,push",service="reg"',
    expected: [bearer('https://a/token', 'reg', 'repository:x/y:pull,push')],
  },
  {
    name: 'odd spacing around "=" and commas (BWS/OWS)',
    header: '  Bearer   realm = "https://a/token" ,service= reg ,  scope ="s"  ',
    expected: [bearer('https://a/token', 'reg', 's')],
  },
  {
    name: 'scheme and parameter names are case-insensitive',
    header: 'bEaReR REALM="https://a/token", Service="reg"',
    expected: [bearer('https://a/token', 'reg')],
  },
  {
    name: 'token values need no quotes',
    header: 'Basic realm=simple',
    expected: [basic('simple')],
  },
  {
    name: 'backslash escapes inside quoted strings',
    header: 'Basic realm="say \\"hi\\" \\\\ there"',
    expected: [basic('say "hi" \\ there')],
  },
  {
    name: 'several challenges in one header',
    header: 'Basic realm="b", Bearer realm="https://a/token",service="reg"',
    expected: [basic('b'), bearer('https://a/token', 'reg')],
  },
  {
    name: 'two headers joined by fetch',
    header: 'Bearer realm="https://a/token", Basic realm="b"',
    expected: [bearer('https://a/token'), basic('b')],
  },
  {
    name: 'a scheme without parameters, then another challenge',
    header: 'Basic, Bearer realm="r"',
    expected: [basic(), bearer('r')],
  },
  {
    name: 'unknown schemes are named, with token68 or params',
    header: 'Negotiate YIIB==, Digest realm="d", nonce="n", Basic realm="b"',
    expected: [
      { scheme: 'unknown', name: 'negotiate' },
      { scheme: 'unknown', name: 'digest' },
      basic('b'),
    ],
  },
  {
    name: 'empty list elements are ignored',
    header: ' , ,Basic realm="b",,, ',
    expected: [basic('b')],
  },
  {
    name: 'the first of a repeated parameter wins',
    header: 'Basic realm="first", realm="second"',
    expected: [basic('first')],
  },
  {
    name: 'a parameter with no scheme before it is skipped',
    header: 'realm="orphan", Basic realm="b"',
    expected: [basic('b')],
  },
  {
    name: 'garbage after a value drops that parameter only',
    header: 'Bearer realm=a b, service="reg"',
    expected: [bearer(undefined, 'reg')],
  },
  {
    name: 'an unterminated quoted string ends the header',
    header: 'Bearer service="reg", realm="https://a/tok, Basic realm="b"',
    expected: [bearer(undefined, 'reg')],
  },
  { name: 'empty header', header: '', expected: [] },
  { name: 'only whitespace and punctuation', header: ' "x" = , ;', expected: [] },
];

t.test('WWW-Authenticate parsing', async (t) => {
  for (const c of cases) {
    t.same(parseWwwAuthenticate(c.header), c.expected, c.name);
  }
});

t.test('token68 and raw parameters', async (t) => {
  const [negotiate, digest] = parseChallenges('Negotiate abc+/==, Digest realm="x", qop="auth"');
  t.equal(negotiate?.token68, 'abc+/==', 'token68 with padding is not read as a parameter');
  t.equal(negotiate?.params.size, 0);
  t.equal(digest?.token68, undefined);
  t.same(Object.fromEntries(digest?.params ?? []), { realm: 'x', qop: 'auth' });
});

t.test('the parser never throws on hostile input', async (t) => {
  const samples = ['"', '\\', 'Basic "', 'Basic realm="\\', '=', '==,==', 'a=b=c', '\u0000,\uffff'];
  for (const sample of samples) {
    t.doesNotThrow(() => parseWwwAuthenticate(sample), JSON.stringify(sample));
  }
  const long = `Bearer ${'x="y",'.repeat(20_000)}`;
  t.equal(parseChallenges(long).length, 1, 'many parameters are one challenge');
});

t.test('preferred challenge: Bearer with a realm, then Basic', async (t) => {
  t.same(
    preferredChallenge(parseWwwAuthenticate('Basic realm="b", Bearer realm="r"')),
    bearer('r'),
  );
  t.same(
    preferredChallenge(parseWwwAuthenticate('Bearer service="s", Basic realm="b"')),
    basic('b'),
  );
  t.equal(preferredChallenge(parseWwwAuthenticate('Bearer service="s"')), undefined);
  t.equal(preferredChallenge(parseWwwAuthenticate('Negotiate abc')), undefined);
});
