/**
 * A validated set written back in Routr v2's own shape (`routr resources export --format routr`): the lists of
 * resources Routr's `simpledata` loads from `config/resources/`, with what Routr requires and routr does not
 * filled in (`metadata.name`; an outbound URI's `port` and `transport`) and routr's canonical spellings turned into
 * the ones Routr's loaders read (`countryIsoCode`). What Routr's schemas would refuse and cannot be made to fit is
 * kept as written and reported as a warning, so the operator knows before Routr says so.
 */
import type { Problem } from './problems.js';
import type { Resource } from './types.js';

export interface RoutrExport {
  /** Routr documents, in Routr's kind order, each kind sorted by ref. */
  documents: Array<Record<string, unknown>>;
  warnings: Problem[];
}

/** Routr's own order in its example directory: ACLs and Credentials first, then what refers to them. */
const ORDER = ['AccessControlList', 'Credentials', 'Domain', 'Agent', 'Peer', 'Trunk', 'Number'];

export function toRoutrShapes(resources: readonly Resource[]): RoutrExport {
  const out: RoutrExport = { documents: [], warnings: [] };
  const sorted = [...resources].sort((a, b) => ORDER.indexOf(a.kind) - ORDER.indexOf(b.kind) || (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0));
  for (const resource of sorted) {
    const warn = (path: string, message: string) => out.warnings.push({ kind: resource.kind, ref: resource.ref, path, message });
    out.documents.push(toRoutr(resource, warn));
  }
  return out;
}

function toRoutr(resource: Resource, warn: (path: string, message: string) => void): Record<string, unknown> {
  const copy = structuredClone(resource) as unknown as { metadata?: Record<string, unknown>; spec: Record<string, unknown> };
  const metadata: Record<string, unknown> = { name: resource.ref, ...(copy.metadata ?? {}) };
  const spec = copy.spec;
  switch (resource.kind) {
    case 'Agent':
    case 'Peer': {
      const username = resource.spec.username;
      if (username.length < 4) warn('/spec/username', `Routr's schema wants a username of 4 to 60 characters; "${username}" is kept`);
      break;
    }
    case 'Credentials':
      if (resource.spec.credentials.username.length < 4) warn('/spec/credentials/username', `Routr's schema wants a username of 4 to 60 characters; "${resource.spec.credentials.username}" is kept`);
      break;
    case 'Number': {
      const geoInfo = metadata.geoInfo as Record<string, unknown> | undefined;
      if (geoInfo?.countryISOCode !== undefined) {
        // Routr's loader reads countryIsoCode since 2024 (it was countryISOCode before).
        const { countryISOCode, ...rest } = geoInfo;
        metadata.geoInfo = { ...rest, countryIsoCode: countryISOCode };
      }
      if (!resource.spec.location.aorLink) warn('/spec/location/aorLink', 'Routr requires aorLink on a Number; this one has none (routr answers 404 to calls to it)');
      break;
    }
    case 'Trunk': {
      const uris = resource.spec.outbound?.uris ?? [];
      uris.forEach((entry, i) => {
        const uri = (spec.outbound as { uris: Array<{ uri: Record<string, unknown>; weight: number }> }).uris[i];
        // Routr's schema requires port and transport; routr's defaults are the SIP ones.
        uri.uri = { ...uri.uri, transport: entry.uri.transport ?? 'udp', port: entry.uri.port ?? (entry.uri.transport === 'tls' || entry.uri.transport === 'wss' ? 5061 : 5060) };
        if (entry.weight < 1) warn(`/spec/outbound/uris/${i}/weight`, "Routr's schema wants a weight of at least 1; 0 is kept");
      });
      if (!resource.spec.inbound) warn('/spec/inbound', 'Routr requires spec.inbound.uri on a Trunk; this one has no inbound side');
      break;
    }
    case 'AccessControlList': {
      const lists = resource.spec.accessControlList;
      for (const which of ['allow', 'deny'] as const) {
        lists[which].forEach((entry, i) => {
          if (entry.length < 7 || entry.length > 18) warn(`/spec/accessControlList/${which}/${i}`, `Routr's schema takes entries of 7 to 18 characters; "${entry}" is kept`);
        });
      }
      break;
    }
    case 'Domain':
      break;
  }
  return { apiVersion: 'v2beta1', kind: resource.kind, ref: resource.ref, metadata, spec };
}
