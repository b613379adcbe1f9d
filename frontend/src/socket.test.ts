import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { SocketStatus, WebSocketLike } from "./socket";
import {
  AnnotatorSocket,
  backoffDelay,
  CLOSE_UNAUTHENTICATED,
  ConnectionLostError,
  describeStatus,
  ServerError,
  socketUrl,
  SupersededError,
} from "./socket";

class FakeSocket implements WebSocketLike {
  readyState = 0;
  sent: Record<string, unknown>[] = [];
  onopen: ((ev: unknown) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  constructor(readonly url: string) {}
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close() {
    this.readyState = 3;
  }
  // server side
  accept() {
    this.readyState = 1;
    this.onopen?.({});
  }
  reply(message: Record<string, unknown>) {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
  drop(code = 1006) {
    this.readyState = 3;
    this.onclose?.({ code, reason: "" });
  }
  last(type: string) {
    return [...this.sent].reverse().find((m) => m.type === type)!;
  }
}

function setup() {
  const sockets: FakeSocket[] = [];
  const statuses: SocketStatus[] = [];
  const events: Record<string, unknown>[] = [];
  const client = new AnnotatorSocket({
    url: "ws://test/ws/",
    createSocket: (url) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    },
    onStatus: (s) => statuses.push(s),
    onEvent: (m) => events.push(m as unknown as Record<string, unknown>),
    backoff: { initialMs: 100, maxMs: 1000, factor: 2 },
    random: () => 1,
    heartbeatMs: 10_000,
  });
  client.connect();
  const current = () => sockets[sockets.length - 1]!;
  return { client, sockets, statuses, events, current };
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe("socket", () => {
  it("matches replies to requests by request_id", async () => {
    const { client, current } = setup();
    current().accept();
    const a = client.request({ type: "ping" });
    const b = client.request({ type: "ping" });
    const [ra, rb] = current().sent.map((m) => m.request_id);
    expect(ra).not.toEqual(rb);
    current().reply({ type: "pong", request_id: rb });
    current().reply({ type: "pong", request_id: ra });
    await expect(a).resolves.toMatchObject({ request_id: ra });
    await expect(b).resolves.toMatchObject({ request_id: rb });
  });

  it("rejects a request with the server's error code and readable message", async () => {
    const { client, current } = setup();
    current().accept();
    const reply = client.request({ type: "subscribe", scope: { kind: "series", id: 9 } });
    current().reply({ type: "error", request_id: current().last("subscribe").request_id, code: "not_found", message: "No such series." });
    await expect(reply).rejects.toThrow(new ServerError("not_found", "No such series."));
  });

  it("delivers broadcasts that answer no request to onEvent", () => {
    const { current, events } = setup();
    current().accept();
    current().reply({ type: "embedding.ready", series_id: 1, slice_index: 4, preset: "soft_tissue" });
    expect(events).toEqual([{ type: "embedding.ready", series_id: 1, slice_index: 4, preset: "soft_tissue" }]);
  });

  it("reconnects with growing delays, reports each step, and says when it is back", () => {
    const { sockets, statuses, current } = setup();
    current().accept();
    current().drop();
    expect(statuses.at(-1)).toEqual({ state: "reconnecting", attempt: 1, delayMs: 100 });
    vi.advanceTimersByTime(100);
    expect(sockets).toHaveLength(2);
    current().drop(); // server still down
    expect(statuses.at(-1)).toEqual({ state: "reconnecting", attempt: 2, delayMs: 200 });
    vi.advanceTimersByTime(199);
    expect(sockets).toHaveLength(2);
    vi.advanceTimersByTime(1);
    current().accept();
    expect(statuses.at(-1)).toEqual({ state: "open", reconnected: true });
    expect(describeStatus(statuses.at(-1)!)).toBe("Reconnected.");
  });

  it("caps the backoff and spreads it with jitter", () => {
    const backoff = { initialMs: 500, maxMs: 15_000, factor: 2 };
    expect(backoffDelay(1, backoff, () => 1)).toBe(500);
    expect(backoffDelay(10, backoff, () => 1)).toBe(15_000);
    expect(backoffDelay(10, backoff, () => 0)).toBe(7_500);
  });

  it("re-subscribes every scope after a reconnect, but not an unsubscribed one", () => {
    const { client, current } = setup();
    current().accept();
    void client.subscribe({ kind: "series", id: 3 }).catch(() => {});
    void client.subscribe({ kind: "series", id: 3 }, { label_id: 7 }).catch(() => {});
    void client.subscribe({ kind: "series", id: 4 }).catch(() => {});
    client.unsubscribe({ kind: "series", id: 4 });
    current().drop();
    vi.advanceTimersByTime(100);
    current().accept();
    expect(current().sent.filter((m) => m.type === "subscribe")).toEqual([
      { type: "subscribe", scope: { kind: "series", id: 3 }, label_id: 7 },
    ]);
  });

  it("re-subscribes before anything the reconnect callback sends, so the server accepts it", () => {
    const sockets: FakeSocket[] = [];
    const client: AnnotatorSocket = new AnnotatorSocket({
      url: "ws://test/ws/",
      createSocket: (url) => {
        const s = new FakeSocket(url);
        sockets.push(s);
        return s;
      },
      onStatus: (s) => {
        if (s.state === "open") client.send({ type: "view", series_id: 3, slice_index: 1 });
      },
      backoff: { initialMs: 100, maxMs: 1000, factor: 2 },
      random: () => 1,
    });
    client.connect();
    sockets[0]!.accept();
    void client.subscribe({ kind: "series", id: 3 }).catch(() => {});
    sockets[0]!.drop();
    vi.advanceTimersByTime(100);
    sockets[1]!.accept();
    expect(sockets[1]!.sent.map((m) => m.type)).toEqual(["subscribe", "view"]);
  });

  it("fails requests in flight when the socket drops instead of leaving them hanging", async () => {
    const { client, current } = setup();
    current().accept();
    const reply = client.request({ type: "ping" });
    current().drop();
    await expect(reply).rejects.toBeInstanceOf(ConnectionLostError);
  });

  it("refuses to send while disconnected", async () => {
    const { client } = setup();
    expect(client.send({ type: "view", series_id: 1, slice_index: 0 })).toBe(false);
    await expect(client.request({ type: "ping" })).rejects.toBeInstanceOf(ConnectionLostError);
  });

  it("times a prompt out after its own timeout and drops an answer that comes later", async () => {
    const { client, current, events } = setup();
    current().accept();
    const prompt = client.prompt({ series_id: 1, slice_index: 0, box: [0, 0, 5, 5] }, 2_000);
    const caught = prompt.catch((error: unknown) => error);
    vi.advanceTimersByTime(1_999);
    vi.advanceTimersByTime(1);
    expect(await caught).toEqual(new ServerError("timeout", "The server did not answer in time."));
    current().reply({ type: "prompt.result", request_id: current().last("prompt").request_id, masks: [] });
    expect(events.filter((m) => m.type === "prompt.result")).toEqual([]);
  });

  it("drops the result of a prompt superseded by a newer one", async () => {
    const { client, current, events } = setup();
    current().accept();
    const first = client.prompt({ series_id: 1, slice_index: 0, box: [0, 0, 5, 5] });
    const second = client.prompt({ series_id: 1, slice_index: 0, box: [1, 1, 6, 6] });
    await expect(first).rejects.toBeInstanceOf(SupersededError);
    const [p1, p2] = current().sent.filter((m) => m.type === "prompt");
    expect(p2!.box).toEqual([1, 1, 6, 6]);
    // the late answer to the first prompt arrives after the second was sent: ignored everywhere
    current().reply({ type: "prompt.result", request_id: p1!.request_id, masks: [] });
    current().reply({ type: "prompt.result", request_id: p2!.request_id, masks: [{ iou: 0.9 }] });
    await expect(second).resolves.toMatchObject({ masks: [{ iou: 0.9 }] });
    expect(events).toEqual([]);
  });

  it("stops reconnecting and asks to log in again when the session is gone", () => {
    const { sockets, statuses, current } = setup();
    current().drop(CLOSE_UNAUTHENTICATED);
    vi.advanceTimersByTime(60_000);
    expect(sockets).toHaveLength(1);
    expect(statuses.at(-1)).toEqual({ state: "unauthorized" });
    expect(describeStatus(statuses.at(-1)!)).toMatch(/Log in again/);
  });

  it("treats a missing pong as a dead connection and reconnects", () => {
    const { sockets, statuses, current } = setup();
    current().accept();
    vi.advanceTimersByTime(10_000);
    expect(current().last("ping")).toBeTruthy();
    vi.advanceTimersByTime(10_000); // no pong came back
    expect(statuses.at(-1)?.state).toBe("reconnecting");
    vi.advanceTimersByTime(100);
    expect(sockets).toHaveLength(2);
  });

  it("keeps a live connection when pongs come back", () => {
    const { statuses, current } = setup();
    current().accept();
    for (let i = 0; i < 5; i++) {
      vi.advanceTimersByTime(10_000);
      current().reply({ type: "pong", request_id: current().last("ping").request_id });
    }
    expect(statuses.at(-1)).toEqual({ state: "open", reconnected: false });
  });

  it("remembers the socket id from hello for REST saves", () => {
    const { client, current } = setup();
    current().accept();
    current().reply({ type: "hello", user: "anna", user_id: 2, socket_id: "specific..abc" });
    expect(client.socketId).toBe("specific..abc");
    expect(client.username).toBe("anna");
  });

  it("builds the endpoint URL from the page location", () => {
    expect(socketUrl({ protocol: "https:", host: "a.example:8443" })).toBe("wss://a.example:8443/ws/");
    expect(socketUrl({ protocol: "http:", host: "localhost:8000" })).toBe("ws://localhost:8000/ws/");
  });
});
