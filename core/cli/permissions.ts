/**
 * What each CLI verb that talks to a server needs: the API routes it calls (core/api/routes.ts), hence the
 * permissions. The help pages print it ("permissions:"), and a test checks every route named here exists, so a
 * verb cannot quietly need a permission its page does not name.
 */
import { API_ROUTES, type RouteId } from '../api/routes.js';

/** command → verb (or how the command is called) → the routes it uses. */
export const VERB_ROUTES: Record<string, Record<string, RouteId[]>> = {
  status: { status: ['ops.status'] },
  trunks: { status: ['ops.trunks.status'] },
  trace: { '<call-id>': ['ops.trace'], '--list': ['ops.traces'], '--follow': ['ops.events', 'ops.trace'] },
  resources: { apply: ['resources.apply'], get: ['resources.kind', 'resources.get'], delete: ['resources.delete'] },
  plugin: {
    install: ['plugins.install'],
    list: ['plugins.list'],
    remove: ['plugins.remove'],
    rollback: ['plugins.rollback'],
    enable: ['plugins.enable'],
    disable: ['plugins.disable'],
  },
  bans: { list: ['bans.list'], add: ['bans.add'], lift: ['bans.lift'] },
  acl: { get: ['acl.get'], set: ['acl.set'] },
  keys: { create: ['keys.create'], list: ['keys.list'], revoke: ['keys.revoke'] },
};

/** The permissions a verb needs, each once, in the order of its routes. */
export function verbPermissions(command: string, verb: string): string[] {
  return [...new Set((VERB_ROUTES[command]?.[verb] ?? []).map((id) => API_ROUTES[id].permission))];
}

/** The "permissions:" section of a command's help page; empty for commands that call no route. */
export function permissionsSection(command: string): string {
  const verbs = VERB_ROUTES[command];
  if (!verbs) return '';
  const width = Math.max(...Object.keys(verbs).map((v) => v.length));
  const lines = Object.keys(verbs).map((verb) => `  ${verb.padEnd(width)}  ${verbPermissions(command, verb).join(', ')}`);
  return `\n\npermissions (the API key or token must grant them; the API token is an admin, with all of them):\n${lines.join('\n')}`;
}
