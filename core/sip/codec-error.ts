/**
 * The one error class the SIP codec throws: a value that does not parse as the header it is meant for, or a
 * message object that cannot be put on the wire. Parsing bytes from the network never throws; it returns a
 * ParseResult instead, because malformed input is expected there, not exceptional.
 */
export class SipCodecError extends Error {
  override readonly name = 'SipCodecError';
  /** Lower-case long header name the problem is about, when there is one. */
  readonly header: string | undefined;

  constructor(message: string, options: { header?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.header = options.header;
  }
}
