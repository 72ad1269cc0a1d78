// Which mode a namespace's pods are admitted in: the cluster's (--prevention), unless the
// namespace carries the label, as Pod Security Admission's `pod-security.kubernetes.io/enforce`
// overrides the cluster default per namespace.
export const PREVENTION_MODES = ['enforce', 'warn', 'off'] as const;
export type PreventionMode = (typeof PREVENTION_MODES)[number];

export const PREVENTION_LABEL = 'pullwatch.dev/prevention';

export function isPreventionMode(value: unknown): value is PreventionMode {
  return typeof value === 'string' && (PREVENTION_MODES as readonly string[]).includes(value);
}

/**
 * A namespace label `key` (any value) or `key=value` that exempts a namespace
 * (--prevention-exempt-labels), besides the mode label set to `off`.
 */
export interface NamespaceExemption {
  readonly key: string;
  readonly value?: string | undefined;
}

export function parseNamespaceExemption(text: string): NamespaceExemption {
  const eq = text.indexOf('=');
  return eq < 0 ? { key: text } : { key: text.slice(0, eq), value: text.slice(eq + 1) };
}

export interface ModeSettings {
  readonly clusterMode: PreventionMode;
  readonly exemptions: readonly NamespaceExemption[];
}

/**
 * The namespace's mode. `labels` undefined: the namespace could not be read, so the
 * cluster's mode applies. A label value that is no mode is ignored, so that a typo never
 * switches prevention off: the cluster's mode applies.
 */
export function namespaceMode(
  settings: ModeSettings,
  labels: Readonly<Record<string, string>> | undefined,
): PreventionMode {
  if (labels === undefined) return settings.clusterMode;
  for (const { key, value } of settings.exemptions) {
    const actual = labels[key];
    if (actual !== undefined && (value === undefined || actual === value)) return 'off';
  }
  const label = labels[PREVENTION_LABEL];
  return isPreventionMode(label) ? label : settings.clusterMode;
}
