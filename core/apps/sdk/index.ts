/**
 * The routr app SDK (`routr/app`): write applications that decide SIP requests for routr from outside the
 * sandbox, in their own process, anywhere the NATS cluster reaches — or web callbacks routr asks over HTTP.
 * APPS.md is the guide. Runs on Node, Bun and Deno (Web Crypto, fetch's Request/Response, nats.js core).
 *
 *   import { App } from 'routr/app';
 *   const app = new App({ name: 'voicemail', servers: 'nats://127.0.0.1:4222', token: process.env.TOKEN });
 *   app.invite((req, res) => res.send(486, 'Busy Here'));
 */
export { App, AppRefusedError, SDK_VERSION, type AppEvents, type AppOptions, type Handler, type Next } from './app.js';
export { AppRequest, AppResponse, type ForwardOptions, type ForwardTo, type HeaderMap } from './request.js';
export { handoff, nodeListener, webCallback, type CallbackAnswer, type CallbackQuery, type FetchHandler } from './http.js';
export { backoff, type NatsConnect } from './link.js';
export type {
  Decision,
  ForwardDecision,
  ForwardTarget,
  HeaderAlterations,
  ListeningPoint,
  MessageEnvelope as RequestEnvelope,
  NextHop,
  RespondDecision,
  Sender,
} from '../../envelope.js';
export type { CSeq, NameAddr, SipHeaders, SipRequest, TransportName, Via } from '../../sip/types.js';
