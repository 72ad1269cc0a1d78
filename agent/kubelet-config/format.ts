// The kubelet's configuration files as text: each parsed (YAML or JSON), checked to be a
// KubeletConfiguration, merged in the kubelet's order, and the KEP-2535 settings taken out.
// Pure: strings in, a reading out. Only the three settings leave this module: the files can
// hold header values and key paths that are none of pullwatch's business (staticPodURLHeader
// may carry an Authorization header), so nothing else of them is kept, logged or served.
import YAML from 'yaml';
import type { KubeletConfigReading } from '../model/kubelet-config.ts';
import {
  ENSURE_SECRET_PULLED_IMAGES_GATE,
  VERIFICATION_POLICIES,
  isVerificationPolicy,
  parseAllowlistPattern,
} from '../model/kubelet-config.ts';
import { err, ok, type Result } from '../result.ts';

type JsonObject = Readonly<Record<string, unknown>>;

/** The only version of KubeletConfiguration the kubelet reads (k8s.io/kubelet/config/v1beta1). */
const API_VERSION = 'kubelet.config.k8s.io/v1beta1';

/** One file as read: its path and its text. */
export interface ConfigFileText {
  readonly path: string;
  readonly text: string;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A file's KubeletConfiguration object, or what makes it none (a phrase after its path). */
export function parseKubeletConfigText(text: string): Result<JsonObject, string> {
  if (text.trim() === '') return err('is empty');
  let value: unknown;
  try {
    // YAML 1.2 is a superset of JSON, as for the kubelet's own loader (sigs.k8s.io/yaml).
    value = YAML.parse(text, { uniqueKeys: true, maxAliasCount: 100 });
  } catch (error) {
    const first = (error instanceof Error ? error.message : String(error)).split('\n')[0];
    return err(`is neither valid YAML nor JSON (${first ?? 'parse error'})`);
  }
  if (!isObject(value)) return err('does not hold a YAML or JSON object');
  const { kind, apiVersion } = value;
  if (kind !== 'KubeletConfiguration')
    return err(
      `is not a kubelet configuration (kind ${typeof kind === 'string' ? `"${kind}"` : 'missing'}, not "KubeletConfiguration")`,
    );
  if (apiVersion !== API_VERSION)
    return err(
      `has apiVersion ${typeof apiVersion === 'string' ? `"${apiVersion}"` : '(missing)'}; the kubelet reads only ${API_VERSION}`,
    );
  return ok(value);
}

/**
 * RFC 7396 JSON merge patch, as the kubelet applies each drop-in over what came before
 * (cmd/kubelet/app/server.go mergeKubeletConfigurations, jsonpatch.MergePatch): maps merge key
 * by key (featureGates one gate at a time), lists and scalars are replaced whole, null removes.
 * Written here rather than taken from npm: it is these few lines.
 */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const merged = new Map(Object.entries(isObject(target) ? target : {}));
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) merged.delete(key);
    else merged.set(key, mergePatch(merged.get(key), value));
  }
  // fromEntries defines own properties: a "__proto__" key in a file stays a key.
  return Object.fromEntries(merged);
}

/**
 * The KEP-2535 settings of the main file and the drop-ins (already in the kubelet's order),
 * or 'unknown' with the reason when any file is not a kubelet configuration or a setting is one
 * the kubelet would refuse to start with.
 */
export function kubeletSettingsOf(files: readonly ConfigFileText[]): KubeletConfigReading {
  const paths = files.map((f) => f.path);
  const unknown = (reason: string): KubeletConfigReading => ({
    kind: 'unknown',
    files: paths,
    reason,
  });
  if (files.length === 0) return unknown('no kubelet configuration file was found');
  let merged: unknown = {};
  for (const file of files) {
    const parsed = parseKubeletConfigText(file.text);
    if (!parsed.ok) return unknown(`${file.path} ${parsed.error}`);
    merged = mergePatch(merged, parsed.value);
  }
  const config = merged as JsonObject;
  const where = paths.length === 1 ? (paths[0] ?? '') : `the merge of ${paths.join(', ')}`;

  const gates = config['featureGates'];
  if (gates !== undefined && !isObject(gates))
    return unknown(`featureGates in ${where} is not a map of gate names to true or false`);
  const gate = gates?.[ENSURE_SECRET_PULLED_IMAGES_GATE];
  if (gate !== undefined && typeof gate !== 'boolean')
    return unknown(
      `featureGates.${ENSURE_SECRET_PULLED_IMAGES_GATE} in ${where} is ${JSON.stringify(gate)}, not true or false`,
    );

  const policy = config['imagePullCredentialsVerificationPolicy'];
  if (policy !== undefined && !isVerificationPolicy(policy))
    return unknown(
      `imagePullCredentialsVerificationPolicy ${JSON.stringify(policy)} in ${where} is none of ${VERIFICATION_POLICIES.join(', ')}: the kubelet would not start with it`,
    );

  const allowlist = config['preloadedImagesVerificationAllowlist'] ?? [];
  if (!Array.isArray(allowlist) || !allowlist.every((e) => typeof e === 'string'))
    return unknown(`preloadedImagesVerificationAllowlist in ${where} is not a list of strings`);
  for (const entry of allowlist) {
    const pattern = parseAllowlistPattern(entry);
    if (!pattern.ok)
      return unknown(
        `preloadedImagesVerificationAllowlist in ${where}: ${pattern.error} (the kubelet would not start with it)`,
      );
  }
  return { kind: 'read', files: paths, featureGate: gate, policy, allowlist };
}
