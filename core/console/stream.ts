/**
 * `GET /api/v1/events`: server-sent events (text/event-stream), one per routr event (`event: call.started`,
 * data the event's JSON) and a `figures` event every 2 seconds, with a comment line as keepalive. `?types=`
 * (comma-separated, trailing `.>` or `*` allowed: `call.>`) narrows the events. At most 64 streams at once per
 * process; a client that stops reading is dropped when its buffer passes 1 MiB rather than buffered forever.
 */
import type { http } from '../runtime/http.js';
import type { RoutrEvent } from '../events/index.js';
import type { CallBoard } from './board.js';
import type { FigureSampler } from './figures.js';

const MAX_STREAMS = 64;
const FIGURES_MS = 2000;
const MAX_BUFFERED = 1024 * 1024;
let open = 0;

/**
 * `tenant`: the principal's tenant; a stream of a tenant carries only events naming it (no figures: they are
 * cluster-wide), a stream of a principal of every tenant (null) carries everything.
 */
export async function streamEvents(req: http.IncomingMessage, res: http.ServerResponse, options: { board: CallBoard | undefined; figures: FigureSampler; tenant?: string | null }): Promise<void> {
  if (open >= MAX_STREAMS) {
    res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '5' });
    res.end(JSON.stringify({ error: `at most ${MAX_STREAMS} event streams at once` }));
    return;
  }
  const tenant = options.tenant ?? null;
  const types = typesFilter(new URL(req.url ?? '/', 'http://x').searchParams.get('types'));
  const wanted = tenant === null ? types : (type: string) => type !== 'figures' && types(type);
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  res.write(': routr events\n\n');
  open++;
  let closed = false;
  const send = (name: string, data: unknown): void => {
    if (closed) return;
    if (res.writableLength > MAX_BUFFERED) return stop();
    res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  const unlisten = options.board?.listen((event: RoutrEvent) => {
    if (wanted(event.type) && (tenant === null || event.tenant === tenant)) send(event.type, event);
  });
  const tick = async () => {
    if (!wanted('figures')) return res.write(': keepalive\n\n');
    try {
      send('figures', await options.figures.sample());
    } catch {
      // metrics unavailable for a moment: the next tick tries again
    }
  };
  void tick();
  const timer = setInterval(() => void tick(), FIGURES_MS);
  function stop(): void {
    if (closed) return;
    closed = true;
    open--;
    clearInterval(timer);
    unlisten?.();
    res.end();
  }
  req.on('close', stop);
  res.on('error', stop);
}

function typesFilter(param: string | null): (type: string) => boolean {
  if (!param) return () => true;
  const patterns = param.split(',').map((p) => p.trim()).filter(Boolean);
  return (type) => patterns.some((p) => p === type || ((p.endsWith('.>') || p.endsWith('.*')) && type.startsWith(p.slice(0, -1))));
}
