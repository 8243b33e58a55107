/**
 * The pino root logger. Everything logs through a child of this; credentials are redacted here, once, so a
 * log line can never carry a password or a digest response.
 */
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { env } from './runtime/process.js';

export type { Logger };

/** Paths pino blanks out wherever they occur in a log object. */
export const REDACT_PATHS = [
  'authorization',
  'proxyAuthorization',
  'password',
  'token',
  '*.authorization',
  '*.proxy-authorization',
  '*.password',
  '*.token',
  'apiToken',
  '*.apiToken',
  'http.apiToken',
  'headers.authorization',
  'headers["proxy-authorization"]',
  'message.headers.authorization',
  'message.headers["proxy-authorization"]',
  'req.headers.authorization',
  'spec.password',
  '*.spec.password',
  'credentials.password',
  'spec.credentials.password',
  '*.spec.credentials.password',
  'secret',
  '*.secret',
  'passphrase',
  '*.passphrase',
];

export interface LogOptions {
  level?: string;
  /** Write to this destination instead of stdout (tests). */
  destination?: DestinationStream;
}

export function createLogger(options: LogOptions = {}): Logger {
  const config: LoggerOptions = {
    level: options.level ?? env('ROUTR_LOG_LEVEL') ?? 'info',
    base: { service: 'routr' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return options.destination ? pino(config, options.destination) : pino(config);
}

/** A logger that drops everything; for unit tests and library use without output. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
