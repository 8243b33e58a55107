/**
 * The SIP codec: every public name of `core/sip`, and the only door into it. Bytes become routr's message
 * model here and go back to bytes here; the rest of routr imports from this file and never from a sibling.
 */
export {
  parseMessage,
  stringifyMessage,
  makeResponse,
  KEEPALIVE_ONLY,
  type ParseOptions,
  type ParseResult,
  type ParseReply,
  type ResponseOptions,
} from './codec.js';
export { getHeaderValues, setHeader, addHeader, removeHeader, type AddHeaderOptions } from './edit.js';
export { parseNameAddr, formatNameAddr, parseVia, formatVia, parseAuth, formatAuth } from './headers.js';
export { parseUri, parseTelUri, formatUri, uriScheme, type TelUri } from './uri.js';
export { StreamFramer, type FrameEvent, type StreamFramerOptions } from './framing.js';
export { headerKey, canonicalName } from './names.js';
export { SipCodecError } from './codec-error.js';
export {
  isRequest,
  type TransportName,
  type Params,
  type NameAddr,
  type Via,
  type CSeq,
  type AuthHeader,
  type SipHeaders,
  type SipRequest,
  type SipResponse,
  type SipMessage,
  type SipUri,
} from './types.js';
export { scanResponseForRelay, type SplicedResponse } from './relay.js';
