/**
 * The browser side of the interaction log (docs/timing.md): events get a sequence number per client
 * session and the client's time, wait in a buffer, and go to the server in batches, over the socket
 * (`log` → `log.ack`) while it is open, else over REST. An event leaves the buffer only once the server
 * acknowledged it; after a reconnect the unacknowledged ones are sent again and the server stores each
 * (session, seq) once, so nothing is counted twice. On pagehide everything unacknowledged goes out with
 * `navigator.sendBeacon` (a form post carrying the CSRF token) and is kept in localStorage as well, to be
 * sent again by the next page: a reload loses nothing.
 */

import type { LoggedEvent } from "../protocol";

export type EventKind = LoggedEvent["kind"];
export type EventFields = Partial<Omit<LoggedEvent, "seq" | "kind" | "t">>;

export interface Batch {
  session: string;
  events: LoggedEvent[];
}

export interface LogTransport {
  socketOpen(): boolean;
  /** `log` over the socket; resolves on `log.ack`, rejects when the connection drops first */
  socket(batch: Batch): Promise<unknown>;
  /** POST /api/interactions/ */
  rest(batch: Batch): Promise<unknown>;
  /** navigator.sendBeacon of the batch; false when the browser would not queue it */
  beacon(batch: Batch): boolean;
}

/** Where batches wait across a reload (localStorage in the browser). */
export interface KeptBatches {
  keys(): string[];
  get(key: string): string | null;
  set(key: string, value: string): void;
  remove(key: string): void;
}

export interface Timers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export interface LogOptions {
  transport: LogTransport;
  /** the client's clock, ms since the Unix epoch */
  now: () => number;
  session?: string;
  kept?: KeptBatches;
  timers?: Timers;
  /** wait this long after an event before sending (events of a burst go together) */
  batchMs?: number;
  maxBatch?: number;
  retry?: { initialMs: number; maxMs: number };
}

export const KEPT_PREFIX = "delineate.log.";
// Mirrors annotator/timing/schema.py MAX_BATCH.
const MAX_BATCH = 500;

export function newSession(random: () => number = Math.random): string {
  let id = "";
  for (let i = 0; i < 20; i++) id += "abcdefghijklmnopqrstuvwxyz0123456789"[Math.floor(random() * 36)];
  return id;
}

export class InteractionLog {
  readonly session: string;
  /** every event of this session, for the running clock */
  readonly events: LoggedEvent[] = [];
  private readonly unacked = new Map<number, LoggedEvent>();
  private seq = 0;
  private timer: unknown = null;
  private sending: Promise<void> | null = null;
  private failures = 0;
  private readonly timers: Timers;
  private readonly batchMs: number;
  private readonly maxBatch: number;
  private readonly retry: { initialMs: number; maxMs: number };
  /** the way the last batch went, for the probe and the tests */
  lastTransport: "socket" | "rest" | null = null;

  constructor(private readonly options: LogOptions) {
    this.session = options.session ?? newSession();
    this.timers = options.timers ?? { set: (fn, ms) => setTimeout(fn, ms), clear: (h) => clearTimeout(h as ReturnType<typeof setTimeout>) };
    this.batchMs = options.batchMs ?? 3000;
    this.maxBatch = Math.min(options.maxBatch ?? 200, MAX_BATCH);
    this.retry = options.retry ?? { initialMs: 2000, maxMs: 30_000 };
  }

  /** Add an event (at the client time `t`, now by default) and schedule sending it. */
  record(kind: EventKind, fields: EventFields = {}, t: number = this.options.now()): LoggedEvent {
    const event: LoggedEvent = { seq: this.seq++, kind, t, ...fields };
    this.events.push(event);
    this.unacked.set(event.seq, event);
    if (this.unacked.size >= this.maxBatch) void this.flush();
    else this.schedule(this.batchMs);
    return event;
  }

  /** Events not acknowledged yet. */
  get pending(): number {
    return this.unacked.size;
  }

  /** Send everything unacknowledged now (before submitting a task, on Ctrl+S). */
  async flush(): Promise<void> {
    this.cancelTimer();
    while (this.sending) await this.sending;
    if (!this.unacked.size) return;
    this.sending = this.sendAll().finally(() => (this.sending = null));
    await this.sending;
  }

  /** pagehide: beacon what is unacknowledged and keep a copy for the next page. */
  pageHide(): void {
    this.cancelTimer();
    const events = [...this.unacked.values()];
    if (!events.length) return;
    for (const chunk of chunks(events, this.maxBatch)) this.options.transport.beacon({ session: this.session, events: chunk });
    this.options.kept?.set(KEPT_PREFIX + this.session, JSON.stringify({ session: this.session, events }));
  }

  /** Send the batches earlier pages kept (the server ignores what their beacons already delivered). */
  async resendKept(): Promise<void> {
    const kept = this.options.kept;
    if (!kept) return;
    for (const key of kept.keys().filter((k) => k.startsWith(KEPT_PREFIX))) {
      const raw = kept.get(key);
      let batch: Batch | null = null;
      try {
        batch = raw ? (JSON.parse(raw) as Batch) : null;
      } catch {
        batch = null;
      }
      if (!batch || !Array.isArray(batch.events) || !batch.events.length) {
        kept.remove(key);
        continue;
      }
      try {
        for (const chunk of chunks(batch.events, this.maxBatch)) await this.options.transport.rest({ session: batch.session, events: chunk });
        kept.remove(key);
      } catch (error) {
        // A refusal (4xx) will not change on a retry; a network failure may.
        if ((error as { status?: number }).status && (error as { status: number }).status < 500) kept.remove(key);
      }
    }
  }

  private async sendAll(): Promise<void> {
    const { transport } = this.options;
    try {
      for (const chunk of chunks([...this.unacked.values()], this.maxBatch)) {
        const batch = { session: this.session, events: chunk };
        if (transport.socketOpen()) {
          await transport.socket(batch);
          this.lastTransport = "socket";
        } else {
          await transport.rest(batch);
          this.lastTransport = "rest";
        }
        for (const e of chunk) this.unacked.delete(e.seq);
      }
      this.failures = 0;
      if (this.unacked.size) this.schedule(this.batchMs);
    } catch {
      this.failures += 1;
      this.schedule(Math.min(this.retry.maxMs, this.retry.initialMs * 2 ** (this.failures - 1)));
    }
  }

  private schedule(ms: number): void {
    if (this.timer !== null) return;
    this.timer = this.timers.set(() => {
      this.timer = null;
      void this.flush();
    }, ms);
  }

  private cancelTimer(): void {
    if (this.timer !== null) this.timers.clear(this.timer);
    this.timer = null;
  }
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
