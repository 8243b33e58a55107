/** DNS for next hops (RFC 3263): SRV records and address lookups, through the runtime's resolver. */
import { promises as dns } from 'node:dns';

export { dns };
