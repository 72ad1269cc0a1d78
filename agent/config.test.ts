import t from 'tap';
import { loadConfig } from './config.ts';

// As the DaemonSet runs it: NODE_NAME and POD_NAMESPACE from the downward API.
const DAEMONSET_ENV = { NODE_NAME: 'node-1', POD_NAMESPACE: 'pullwatch' };

t.test('defaults with only a node name and namespace', async (t) => {
  const c = loadConfig([], DAEMONSET_ENV);
  t.ok(c.ok);
  if (!c.ok) return;
  t.match(c.value, {
    'node-name': 'node-1',
    listen: { host: '0.0.0.0', port: 9746 },
    auth: 'kubernetes',
    'registry-probe': 'on',
    'verify-credentials': 'on',
    'cri-poll-interval': 15_000,
    'secret-refresh-interval': 30 * 60_000,
    'event-ttl': 60 * 60_000,
    'ignore-namespaces': [],
    'log-level': 'info',
    // Pull secrets come from the controller: the agent itself may read none.
    'secrets-from': 'controller',
    'controller-url': 'https://pullwatch-controller.pullwatch.svc:9747',
    'controller-ca-file': '/var/run/secrets/pullwatch/controller-ca/ca.crt',
    'controller-token-file': '/var/run/secrets/pullwatch/token/token',
  });
});

t.test('secrets come from the controller unless --secrets-from direct is chosen', async (t) => {
  const cases = [
    {
      name: 'no namespace and no --controller-url: a clear error',
      argv: [],
      env: { NODE_NAME: 'n' },
      expected: /--controller-url is required with --secrets-from controller/,
    },
    {
      name: 'an explicit URL',
      argv: ['--controller-url', 'https://ctl.example:9747'],
      env: { NODE_NAME: 'n' },
      expected: { 'controller-url': 'https://ctl.example:9747', 'secrets-from': 'controller' },
    },
    {
      name: 'a plain-HTTP URL is refused',
      argv: ['--controller-url', 'http://ctl.example:9747'],
      env: { NODE_NAME: 'n' },
      expected: /--controller-url must be an https:\/\/ URL/,
    },
    {
      name: 'direct mode needs no controller',
      argv: ['--secrets-from', 'direct'],
      env: { NODE_NAME: 'n' },
      expected: { 'secrets-from': 'direct' },
    },
    {
      name: 'anything else is refused',
      argv: ['--secrets-from', 'apiserver'],
      env: DAEMONSET_ENV,
      expected: /--secrets-from must be "controller" or "direct"/,
    },
  ] as const;
  for (const c of cases) {
    const loaded = loadConfig(c.argv, c.env);
    if (c.expected instanceof RegExp) t.match(loaded, { ok: false, error: c.expected }, c.name);
    else t.match(loaded, { ok: true, value: c.expected }, c.name);
  }
});

t.test('flags beat env, env beats the YAML file', async (t) => {
  const file =
    'node-name: from-file\ntenant-label: team\nignore-namespaces: [kube-system, monitoring]\nlisten: 127.0.0.1:1\n';
  const c = loadConfig(
    ['--config', '/etc/pullwatch.yaml', '--listen', '127.0.0.1:9000'],
    { PULLWATCH_TENANT_LABEL: 'env-team', POD_NAMESPACE: 'pullwatch' },
    () => file,
  );
  t.ok(c.ok);
  if (!c.ok) return;
  t.equal(c.value['node-name'], 'from-file');
  t.equal(c.value['tenant-label'], 'env-team');
  t.same(c.value['ignore-namespaces'], ['kube-system', 'monitoring']);
  t.same(c.value.listen, { host: '127.0.0.1', port: 9000 });
});

t.test('durations take ms, s, m and h', async (t) => {
  const cases = [
    ['750ms', 750],
    ['15s', 15_000],
    ['2m', 120_000],
    ['3h', 3 * 3_600_000],
  ] as const;
  for (const [text, ms] of cases) {
    const c = loadConfig(['--event-ttl', text], DAEMONSET_ENV);
    t.equal(c.ok && c.value['event-ttl'], ms, text);
  }
});

const errors = [
  { name: 'no node name', argv: [], env: {}, message: /--node-name or NODE_NAME/ },
  {
    name: 'a bad auth mode',
    argv: ['--auth', 'basic'],
    env: { NODE_NAME: 'n' },
    message: /--auth must be "kubernetes" or "none"/,
  },
  {
    name: 'a bad duration',
    argv: ['--cri-poll-interval', '10'],
    env: { NODE_NAME: 'n' },
    message: /--cri-poll-interval must be a duration like/,
  },
  {
    name: 'a secret refresh interval so short it would poll the API server',
    argv: ['--secret-refresh-interval', '30s'],
    env: { NODE_NAME: 'n' },
    message: /--secret-refresh-interval must be at least 1m/,
  },
  {
    name: 'a bad listen address',
    argv: ['--listen', 'localhost'],
    env: { NODE_NAME: 'n' },
    message: /--listen must be HOST:PORT/,
  },
  {
    name: 'probe neither on nor off',
    argv: [],
    env: { NODE_NAME: 'n', PULLWATCH_REGISTRY_PROBE: 'yes' },
    message: /--registry-probe must be "on" or "off"/,
  },
  {
    name: 'TLS cert without key',
    argv: ['--tls-cert-file', '/x.crt'],
    env: { NODE_NAME: 'n' },
    message: /set both or neither/,
  },
  {
    name: 'an unknown flag',
    argv: ['--nodename', 'x'],
    env: {},
    message: /Unknown option '--nodename'/,
  },
] as const;

for (const c of errors) {
  t.test(`refused: ${c.name}`, async (t) => {
    const r = loadConfig(c.argv, c.env);
    t.notOk(r.ok);
    if (!r.ok) t.match(r.error, c.message);
  });
}

t.test('a config file with an unknown key or bad YAML is refused', async (t) => {
  const unknown = loadConfig(['--config', 'f'], {}, () => 'nodename: x\n');
  t.ok(!unknown.ok && /unknown setting\(s\) nodename/.test(unknown.error));
  const bad = loadConfig(['--config', 'f'], {}, () => 'a: [\n');
  t.ok(!bad.ok && bad.error.startsWith('--config f:'));
});

t.test('--events: a Warning Event on flagged pods unless turned off', async (t) => {
  const cases = [
    { name: 'on by default', argv: [], expected: { events: 'on' } },
    { name: 'off', argv: ['--events', 'off'], expected: { events: 'off' } },
    {
      name: 'anything else is refused',
      argv: ['--events', 'yes'],
      expected: /--events must be "on" or "off"/,
    },
  ];
  for (const c of cases) {
    const loaded = loadConfig(c.argv, DAEMONSET_ENV);
    if (c.expected instanceof RegExp) t.match(loaded.ok ? '' : loaded.error, c.expected, c.name);
    else t.match(loaded.ok && loaded.value, c.expected, c.name);
  }
});
