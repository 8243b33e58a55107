/**
 * `POST /api/v1/secrets/rotate`: a new cluster master secret (core/auth/keyring.ts). It signs from then on; the
 * previous one still verifies, so calls record-routed and nonces issued before keep working until the next
 * rotation. `GET /api/v1/secrets` tells the key ids in force (never a secret) and where they come from.
 */
import { ApiError, mountApi } from '../api/http.js';
import { json, type OpsServer } from '../http.js';
import type { Logger } from '../log.js';
import { KeyringError, type Keyring } from './keyring.js';

export function mountSecretsApi(ops: OpsServer, keys: Keyring, options: { token: string | undefined; logger: Logger }): void {
  mountApi(ops, 'secrets', options.token, async (req, res, path) => {
    if (req.method === 'GET' && path.length === 0) return json(res, 200, { source: keys.source, keys: keys.ids });
    if (req.method === 'POST' && path.length === 1 && path[0] === 'rotate') {
      try {
        const ids = await keys.rotate();
        options.logger.info({ keys: ids }, 'cluster secret rotated');
        return json(res, 200, { source: keys.source, keys: ids });
      } catch (err) {
        if (err instanceof KeyringError) throw new ApiError(409, err.message);
        throw err;
      }
    }
    throw new ApiError(404, 'use GET /api/v1/secrets or POST /api/v1/secrets/rotate');
  });
}
