import { describe, expect, it } from "vitest";
import { manualClock } from "../testing/clock";
import { InteractionLog, KEPT_PREFIX, type Batch, type KeptBatches, type LogTransport } from "./interactionLog";

/** A server that stores each (session, seq) once, reached over a socket that can be open or not. */
function fakeServer() {
  const stored = new Map<string, Batch["events"][number]>();
  const calls: { via: string; seqs: number[] }[] = [];
  let open = true;
  let dropNext = false;
  const take = (via: string, batch: Batch) => {
    calls.push({ via, seqs: batch.events.map((e) => e.seq) });
    for (const e of batch.events) if (!stored.has(`${batch.session}:${e.seq}`)) stored.set(`${batch.session}:${e.seq}`, e);
  };
  const transport: LogTransport = {
    socketOpen: () => open,
    socket: async (batch) => {
      if (dropNext) {
        dropNext = false;
        take("socket", batch); // it arrived, but the ack was lost with the connection
        throw new Error("The connection to the server dropped before it answered.");
      }
      take("socket", batch);
      return { stored: batch.events.length };
    },
    rest: async (batch) => take("rest", batch),
    beacon: (batch) => {
      take("beacon", batch);
      return true;
    },
  };
  return {
    transport,
    stored,
    calls,
    setOpen: (v: boolean) => (open = v),
    dropAck: () => (dropNext = true),
  };
}

function memoryStore(): KeptBatches & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return { data, keys: () => [...data.keys()], get: (k) => data.get(k) ?? null, set: (k, v) => void data.set(k, v), remove: (k) => void data.delete(k) };
}

function makeLog(server: ReturnType<typeof fakeServer>, clock = manualClock(), kept?: KeptBatches, session = "session-one") {
  const log = new InteractionLog({
    transport: server.transport,
    now: () => 1.7e12 + clock.now(),
    session,
    kept,
    batchMs: 1000,
    timers: { set: clock.setTimer, clear: clock.clearTimer },
    retry: { initialMs: 2000, maxMs: 8000 },
  });
  return { log, clock };
}

describe("the interaction log", () => {
  it("numbers events, batches them and sends them over the socket, then forgets what was acknowledged", async () => {
    const server = fakeServer();
    const { log, clock } = makeLog(server);
    log.record("page.open", { series_id: 5 });
    await clock.advance(300);
    log.record("prompt", { series_id: 5, label_id: 2 });
    expect(server.calls).toEqual([]);
    await clock.advance(1000);
    expect(server.calls).toEqual([{ via: "socket", seqs: [0, 1] }]);
    expect(log.pending).toBe(0);
    expect([...server.stored.values()].map((e) => [e.seq, e.kind, e.t])).toEqual([
      [0, "page.open", 1.7e12],
      [1, "prompt", 1.7e12 + 300],
    ]);
  });

  it("uses REST while the socket is down", async () => {
    const server = fakeServer();
    server.setOpen(false);
    const { log, clock } = makeLog(server);
    log.record("brush");
    await clock.advance(1000);
    expect(server.calls).toEqual([{ via: "rest", seqs: [0] }]);
    expect(log.lastTransport).toBe("rest");
  });

  it("sends an unacknowledged batch again after a reconnect and the server keeps one copy", async () => {
    const server = fakeServer();
    const { log, clock } = makeLog(server);
    log.record("page.open");
    log.record("brush");
    server.dropAck();
    await clock.advance(1000);
    expect(log.pending).toBe(2);
    log.record("undo");
    await clock.advance(2000); // the retry after the backoff
    expect(server.calls).toEqual([
      { via: "socket", seqs: [0, 1] },
      { via: "socket", seqs: [0, 1, 2] },
    ]);
    expect(server.stored.size).toBe(3);
    expect(log.pending).toBe(0);
  });

  it("beacons what is pending on pagehide and the next page sends the kept copy again", async () => {
    const server = fakeServer();
    const kept = memoryStore();
    const { log } = makeLog(server, manualClock(), kept);
    log.record("brush");
    log.record("page.close");
    log.pageHide();
    expect(server.calls).toEqual([{ via: "beacon", seqs: [0, 1] }]);
    expect(kept.data.has(`${KEPT_PREFIX}session-one`)).toBe(true);
    // The reloaded page (a new session) sends the kept batch over REST: stored once, the copy is dropped
    const next = makeLog(server, manualClock(), kept, "session-two").log;
    await next.resendKept();
    expect(server.calls[1]).toEqual({ via: "rest", seqs: [0, 1] });
    expect(server.stored.size).toBe(2);
    expect(kept.data.size).toBe(0);
  });

  it("keeps a kept batch when the server cannot be reached and drops one the server refuses", async () => {
    const kept = memoryStore();
    kept.set(`${KEPT_PREFIX}old`, JSON.stringify({ session: "old-session", events: [{ seq: 0, kind: "brush", t: 1 }] }));
    kept.set(`${KEPT_PREFIX}broken`, "{not json");
    const unreachable = fakeServer();
    unreachable.transport.rest = async () => {
      throw Object.assign(new Error("network"), { status: 0 });
    };
    await makeLog(unreachable, manualClock(), kept).log.resendKept();
    expect(kept.keys()).toEqual([`${KEPT_PREFIX}old`]);
    const refusing = fakeServer();
    refusing.transport.rest = async () => {
      throw Object.assign(new Error("No such series."), { status: 404 });
    };
    await makeLog(refusing, manualClock(), kept).log.resendKept();
    expect(kept.keys()).toEqual([]);
  });
});
