/**
 * Hashes, HMAC, random bytes, constant-time comparison, public keys and certificates. These stay Node's
 * synchronous `node:crypto` (on all three runtimes): digest authentication needs MD5, which Web Crypto lacks,
 * and it runs synchronously inside a sandbox capability call, where Web Crypto's promises cannot be awaited.
 */
export { createHash, createHmac, createPrivateKey, createPublicKey, hkdfSync, randomBytes, timingSafeEqual, verify, X509Certificate, type KeyObject } from 'node:crypto';
