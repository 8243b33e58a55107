/**
 * Events on the bus (README "Events"): typed JSON on `routr.v1.events.<type>` for registrations, calls, trunk
 * registrations and plugin states. `EventPublisher` writes them; `subscribeEvents` reads them back, on the
 * embedded bus or NATS. The schemas in `config/schemas/events/` are the contract.
 */
import { EVENTS_SUBJECT, eventSubject } from '../bus/subjects.js';
import type { Bus, Subscription } from '../bus/types.js';
import { isEventType, type EventType, type RoutrEvent } from './types.js';

export { EventPublisher, silentEvents, type EventPublisherOptions } from './publisher.js';
export * from './types.js';

const decoder = new TextDecoder();

/**
 * Every event (or those of `types`, patterns allowed: `call.>`) as parsed objects. Anything on the subjects
 * that is not an event (not JSON, no known type) is skipped, so a stray publisher cannot crash a consumer.
 */
export function subscribeEvents(bus: Bus, handler: (event: RoutrEvent) => void, options: { types?: string[] } = {}): Subscription[] {
  const subjects = options.types?.length ? options.types.map((t) => eventSubject(t)) : [EVENTS_SUBJECT];
  return subjects.map((subject) =>
    bus.subscribe(subject, (payload) => {
      let event: unknown;
      try {
        event = JSON.parse(decoder.decode(payload));
      } catch {
        return;
      }
      if (event && typeof event === 'object' && isEventType((event as { type?: unknown }).type)) handler(event as RoutrEvent);
    }),
  );
}

/** The validator name of a type's schema (`events/call.ended`), for `validator()` in core/config/schemas. */
export function eventSchemaName(type: EventType): string {
  return `events/${type}`;
}
