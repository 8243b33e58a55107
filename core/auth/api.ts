/**
 * `POST /api/v1/secrets/rotate`: a new cluster master secret (core/auth/keyring.ts). It signs from then on; the
 * previous one still verifies, so calls record-routed and nonces issued before keep working until the next
 * rotation. `GET /api/v1/secrets` tells the key ids in force (never a secret) and where they come from.
 */
import { ApiError, mountApi } from '../api/http.js';
import type { ApiAuth } from '../api/auth.js';
import { json, type OpsServer } from '../http.js';
import type { Logger } from '../log.js';
import { KeyringError, type Keyring } from './keyring.js';

export function mountSecretsApi(ops: OpsServer, auth: ApiAuth, keys: Keyring, options: { logger: Logger }): void {
  mountApi(ops, auth, {
    'secrets.list': ({ res }) => json(res, 200, { source: keys.source, keys: keys.ids }),
    'secrets.rotate': async ({ res, audit }) => {
      audit.target = 'cluster secret';
      audit.before = keys.ids.join(',');
      try {
        const ids = await keys.rotate();
        options.logger.info({ keys: ids }, 'cluster secret rotated');
        audit.after = ids.join(',');
        return json(res, 200, { source: keys.source, keys: ids });
      } catch (err) {
        if (err instanceof KeyringError) throw new ApiError(409, err.message);
        throw err;
      }
    },
  });
}
