// The report CRDs tests serve from the embedded API server (its `customResourceDefinitions`
// option). The OpenReports CRDs are read from ../shared/reference/openreports, never copied
// into the project. There is no wgpolicyk8s.io CRD file here: the v1alpha2 PolicyReport and
// ClusterPolicyReport CRDs are derived from the OpenReports ones at run time, since OpenReports
// kept the policy working group's result schema (docs facts: same result fields). Only the
// names, the group and version change, and the two top-level fields OpenReports added to the
// report (`source`, `configuration`) are dropped, as v1alpha2 has neither.

import { access, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/** Where ../shared/reference/openreports is from this checkout. */
export const openReportsDir = fileURLToPath(
  new URL('../../../shared/reference/openreports/', import.meta.url),
);

const openReportsFiles = ['openreports.io_reports.yaml', 'openreports.io_clusterreports.yaml'];

/** true when the OpenReports CRDs can be read (a laptop without ../shared has none). */
export async function openReportsCrdsPresent(): Promise<boolean> {
  try {
    await Promise.all(openReportsFiles.map((f) => access(`${openReportsDir}${f}`)));
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether tests can serve the OpenReports CRDs. A laptop without ../shared skips those tests;
 * under CI=true their absence fails the run instead.
 */
export async function openReportsCrdsForTests(): Promise<boolean> {
  const present = await openReportsCrdsPresent();
  if (!present && process.env['CI'] === 'true') {
    throw new Error(`the OpenReports CRDs are missing from ${openReportsDir}`);
  }
  return present;
}

/** The OpenReports Report and ClusterReport CRDs, as YAML text. */
export function openReportsCrds(): Promise<string[]> {
  return Promise.all(openReportsFiles.map((f) => readFile(`${openReportsDir}${f}`, 'utf8')));
}

type Json = Record<string, unknown>;

const asRecord = (value: unknown): Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : {};

const wgpolicyNames: Readonly<Record<string, Json>> = {
  Report: {
    kind: 'PolicyReport',
    listKind: 'PolicyReportList',
    plural: 'policyreports',
    singular: 'policyreport',
    shortNames: ['polr'],
  },
  ClusterReport: {
    kind: 'ClusterPolicyReport',
    listKind: 'ClusterPolicyReportList',
    plural: 'clusterpolicyreports',
    singular: 'clusterpolicyreport',
    shortNames: ['cpolr'],
  },
};

/** The wgpolicyk8s.io/v1alpha2 CRD derived from one OpenReports CRD (YAML text). */
export function wgpolicyCrdFrom(openReportsCrd: string): object {
  const crd = asRecord(parse(openReportsCrd));
  const spec = asRecord(crd['spec']);
  const kind = String(asRecord(spec['names'])['kind']);
  const names = wgpolicyNames[kind];
  if (!names) throw new Error(`no wgpolicyk8s.io counterpart for the OpenReports kind ${kind}`);
  const versions = (Array.isArray(spec['versions']) ? spec['versions'] : []).map(
    (version: unknown) => {
      const v = asRecord(version);
      const schema = asRecord(asRecord(v['schema'])['openAPIV3Schema']);
      const properties = { ...asRecord(schema['properties']) };
      for (const added of ['source', 'configuration']) Reflect.deleteProperty(properties, added);
      return {
        ...v,
        name: 'v1alpha2',
        schema: { openAPIV3Schema: { ...schema, properties } },
      };
    },
  );
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${String(names['plural'])}.wgpolicyk8s.io` },
    spec: { ...spec, group: 'wgpolicyk8s.io', names, versions },
  };
}

/** PolicyReport and ClusterPolicyReport CRDs (wgpolicyk8s.io/v1alpha2). */
export async function wgpolicyCrds(): Promise<object[]> {
  return (await openReportsCrds()).map(wgpolicyCrdFrom);
}

/** Every report CRD pullwatch may write: OpenReports and wgpolicyk8s.io. */
export async function reportCrds(): Promise<(string | object)[]> {
  return [...(await openReportsCrds()), ...(await wgpolicyCrds())];
}
