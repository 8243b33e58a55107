/**
 * Balanced sessions end with their calls. The host does not see final responses (the edge does), so it listens to
 * the edge's call events: `call.ended` — a BYE answered, a non-2xx final answer to the INVITE, a CANCEL, or a call
 * the edge forgot — ends the Call-ID's session, so least-sessions counts go back down for failed and cancelled
 * calls too, not only for those a BYE ends; `call.answered` names the branch that took the call, so a call that
 * failed over from the backend first picked is counted on the backend that has it. Every host hears every event
 * (at most once: a lost one leaves the session to `spec.host.balancer.sessionTtlSeconds`); ending a session twice
 * is harmless.
 */
import type { Bus, Subscription } from '../bus/types.js';
import { subscribeEvents } from '../events/index.js';
import type { LocationStore } from './store.js';

export function followCalls(bus: Bus, location: Pick<LocationStore, 'release' | 'repoint'>): Subscription[] {
  return subscribeEvents(
    bus,
    (event) => {
      if (!event.callId) return;
      if (event.type === 'call.ended') location.release(event.callId);
      else if (event.type === 'call.answered' && event.target) location.repoint(event.callId, event.target);
    },
    { types: ['call.ended', 'call.answered'] },
  );
}
