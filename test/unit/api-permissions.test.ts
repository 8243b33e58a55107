/**
 * The permission model as data: every route of the routes table names a known permission; every role grants
 * only known permissions; admin has all; a principal bound to a tenant never gets a cluster-wide one; the CLI's
 * verbs name routes that exist, and each server command's help page lists the permissions its verbs need.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPermission, permissionsOf, PERMISSIONS, refusal, ROLE_PERMISSIONS, ROLES, type Principal, type Role } from '../../core/api/permissions.js';
import { API_ROUTES } from '../../core/api/routes.js';
import { HELP } from '../../core/cli/help.js';
import { VERB_ROUTES, verbPermissions } from '../../core/cli/permissions.js';

const principal = (role: Role, tenant: string | null = null): Principal => ({ id: 'key:0123456789abcdef', name: 'test', role, tenant });

test('api permissions - every route declares a known permission; ids, methods and paths are unique', () => {
  const seen = new Set<string>();
  for (const [id, route] of Object.entries(API_ROUTES)) {
    assert.ok(isPermission(route.permission), `${id}: unknown permission ${route.permission}`);
    assert.match(route.method, /^(GET|POST|PUT|DELETE)$/);
    assert.match(route.path, /^(\/[a-z]+|\/:[a-zA-Z]+)+$/, `${id}: path ${route.path}`);
    const line = `${route.method} ${route.path}`;
    assert.ok(!seen.has(line), `${line} declared twice`);
    seen.add(line);
    assert.ok(route.summary.length > 0);
  }
});

test('api permissions - roles grant known permissions; admin all; ranks nest (each role grants what the one below grants, but status)', () => {
  assert.deepEqual([...ROLE_PERMISSIONS.admin].sort(), Object.keys(PERMISSIONS).sort());
  for (const role of ROLES) for (const p of ROLE_PERMISSIONS[role]) assert.ok(isPermission(p), `${role}: ${p}`);
  const without = <T extends string>(list: readonly T[]) => list.filter((p) => p !== 'status.read');
  for (const p of without(ROLE_PERMISSIONS['read-only'])) assert.ok(ROLE_PERMISSIONS.operator.includes(p));
  for (const p of without(ROLE_PERMISSIONS.operator)) assert.ok(ROLE_PERMISSIONS['tenant-admin'].includes(p), `tenant-admin lacks ${p}`);
  assert.ok(!ROLE_PERMISSIONS['read-only'].includes('traces.read'), 'read-only reads no message traces');
  assert.ok(ROLE_PERMISSIONS.operator.includes('bans.lift') && !ROLE_PERMISSIONS.operator.includes('bans.write'));
});

test('api permissions - a principal bound to a tenant never has a cluster-wide permission; refusals say why', () => {
  for (const role of ROLES) {
    for (const p of permissionsOf(principal(role, 'acme'))) assert.notEqual(PERMISSIONS[p].scope, 'cluster', `${role}@acme has ${p}`);
  }
  assert.equal(refusal(principal('admin'), 'secrets.rotate'), undefined);
  assert.match(refusal(principal('operator', 'acme'), 'status.read') ?? '', /cluster-wide.*tenant "acme"/);
  assert.match(refusal(principal('read-only'), 'resources.write') ?? '', /role read-only does not grant resources\.write/);
  assert.equal(refusal(principal('operator', 'acme'), 'bans.lift'), undefined);
});

test('api permissions - every CLI verb names routes that exist, and its help page lists their permissions', () => {
  for (const [command, verbs] of Object.entries(VERB_ROUTES)) {
    assert.ok(HELP[command], `no help page for ${command}`);
    for (const [verb, routes] of Object.entries(verbs)) {
      for (const id of routes) assert.ok(API_ROUTES[id], `${command} ${verb}: no route ${id}`);
      const line = new RegExp(`^  ${verb.replace(/[-<>]/g, (c) => `\\${c}`)}\\s+${verbPermissions(command, verb).join(', ').replace(/\./g, '\\.')}$`, 'm');
      assert.match(HELP[command].page, line, `${command} --help does not list ${verb}'s permissions`);
    }
  }
});
