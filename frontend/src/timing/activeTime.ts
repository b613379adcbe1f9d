/**
 * Active time, the viewer's port of annotator/timing/activity.py (its docstring states the rules; both are
 * tested on the same scripted streams, activeTime.cases.json): per session, the gap from one user event to
 * the start of the next counts when it is at most the idle threshold, never after `hidden` or
 * `page.close`; an event's own span (a stroke) always counts; passive events (`save`, `prompt.result`)
 * keep nobody active; a gap belongs to the label of the event that opens it; replays count once; two tabs
 * on one label are a union. Times in milliseconds.
 */

export interface TimedEvent {
  session: string;
  seq: number;
  /** client time, ms */
  t: number;
  kind: string;
  label: number | null;
  /** continuous work that ended at t (a stroke), ms */
  duration?: number;
}

export const PASSIVE_KINDS: ReadonlySet<string> = new Set(["prompt.result", "save"]);
const GAP_CLOSERS: ReadonlySet<string> = new Set(["hidden", "page.close"]);

type Span = [number, number];

function unique(events: readonly TimedEvent[]): TimedEvent[] {
  const seen = new Map<string, TimedEvent>();
  for (const e of events) {
    const key = `${e.session}\u0000${e.seq}`;
    if (!seen.has(key)) seen.set(key, e);
  }
  return [...seen.values()].sort((a, b) => (a.session < b.session ? -1 : a.session > b.session ? 1 : a.seq - b.seq));
}

function startOf(e: TimedEvent): number {
  return e.t - (e.duration ?? 0);
}

/** One session's active spans by label (rules 1–5), events in sequence order. */
function sessionSpans(events: readonly TimedEvent[], idleMs: number, out: Map<number, Span[]>): void {
  const acts = events.filter((e) => !PASSIVE_KINDS.has(e.kind));
  const add = (label: number | null, span: Span) => {
    if (label === null) return;
    const list = out.get(label) ?? [];
    list.push(span);
    out.set(label, list);
  };
  acts.forEach((e, i) => {
    if ((e.duration ?? 0) > 0) add(e.label, [startOf(e), e.t]);
    const next = acts[i + 1];
    if (!next || GAP_CLOSERS.has(e.kind)) return;
    const gapEnd = startOf(next);
    if (e.t < gapEnd && gapEnd - e.t <= idleMs) add(e.label, [e.t, gapEnd]);
  });
}

export function unionLength(spans: Span[]): number {
  const sorted = [...spans].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let total = 0;
  let current: Span | null = null;
  for (const [s, e] of sorted) {
    if (current && s <= current[1]) current[1] = Math.max(current[1], e);
    else {
      if (current) total += current[1] - current[0];
      current = [s, e];
    }
  }
  return current ? total + current[1] - current[0] : total;
}

/** Active ms per label over any sessions' events. */
export function activeMsByLabel(events: readonly TimedEvent[], idleMs: number): Map<number, number> {
  const bySession = new Map<string, TimedEvent[]>();
  for (const e of unique(events)) {
    const list = bySession.get(e.session) ?? [];
    list.push(e);
    bySession.set(e.session, list);
  }
  const spans = new Map<number, Span[]>();
  for (const list of bySession.values()) sessionSpans(list, idleMs, spans);
  const out = new Map<number, number>();
  for (const [label, list] of spans) {
    const ms = unionLength(list);
    if (ms > 0) out.set(label, ms);
  }
  return out;
}

/**
 * The running clock of one label in this session: its closed intervals plus the gap still open since the
 * last user event, while that gap is under the threshold, the tab is not hidden and the label is on screen.
 */
export function runningMs(events: readonly TimedEvent[], label: number, idleMs: number, now: number): number {
  const closed = activeMsByLabel(events, idleMs).get(label) ?? 0;
  const acts = events.filter((e) => !PASSIVE_KINDS.has(e.kind));
  const last = acts[acts.length - 1];
  if (!last || last.label !== label || GAP_CLOSERS.has(last.kind)) return closed;
  const open = now - last.t;
  return open > 0 && open <= idleMs ? closed + open : closed;
}

/** "1:05", "12:00", "1:02:03". */
export function formatDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}
