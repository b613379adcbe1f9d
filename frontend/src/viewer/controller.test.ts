import { describe, expect, it } from "vitest";
import { Api } from "../api";
import type { PromptMessage, PromptResult, Scope, ServerMessage } from "../protocol";
import { encode } from "../rle";
import type { SocketStatus } from "../socket";
import { LIVER, LUNG, maskWith, PLANES_2MM, recordingNotifier, recordingView, TUMOUR, viewerState } from "../testing/viewer";
import type { Command, Dispatched } from "./bus";
import { ViewerController, type SocketHandlers, type ViewerSocket } from "./controller";
import type { ViewerState } from "./state";
import type { Action } from "./tools";

class FakeSocket implements ViewerSocket {
  status: SocketStatus = { state: "closed" };
  socketId: string | null = "sock-1";
  sent: ({ type: string } & Record<string, unknown>)[] = [];
  subscriptions: { scope: Scope; extra?: Record<string, unknown> }[] = [];
  prompts: PromptMessage[] = [];
  answer: (message: PromptMessage) => PromptResult = () => {
    throw new Error("no answer");
  };

  constructor(readonly handlers: SocketHandlers) {}

  get isOpen(): boolean {
    return this.status.state === "open";
  }

  connect(): void {
    this.setStatus({ state: "connecting", attempt: 0 });
  }

  setStatus(status: SocketStatus): void {
    this.status = status;
    this.handlers.onStatus(status);
  }

  send(message: { type: string } & Record<string, unknown>): boolean {
    this.sent.push(message);
    return this.isOpen;
  }

  request<T extends ServerMessage = ServerMessage>(): Promise<T> {
    return new Promise(() => {});
  }

  subscribe(scope: Scope, extra?: Record<string, unknown>): Promise<ServerMessage> {
    this.subscriptions.push({ scope, extra });
    return Promise.resolve({ type: "subscribed", scope, series: { id: 7, shape: [5, 8, 10], preset: "soft_tissue" }, embeddings: { preset: "soft_tissue", ready: [1, 2], total: 5 }, presence: [{ username: "jon", slice_index: 4 }] });
  }

  prompt(message: PromptMessage): Promise<PromptResult> {
    this.prompts.push(message);
    return Promise.resolve(this.answer(message));
  }
}

/** An API serving empty saved masks and 8 × 10 int16 slices. */
function fakeApi(): Api {
  return new Api(async (url) => {
    if (url.includes("/slices/")) return new Response(new Int16Array(80).buffer, { headers: { "X-Dtype": "int16" } });
    if (url.includes("/masks/")) return new Response(JSON.stringify({ revision: null, slices: {} }));
    return new Response("{}", { status: 404 });
  }, () => "tok");
}

function setup(state: ViewerState = viewerState()) {
  const view = recordingView();
  const notify = recordingNotifier();
  let socket!: FakeSocket;
  const controller = new ViewerController(
    state,
    { api: fakeApi(), notify, socket: (handlers) => (socket = new FakeSocket(handlers)), autosave: { delayMs: 60_000 } },
    view,
  );
  const heard: Dispatched[] = [];
  controller.bus.onCommand((d) => heard.push(d));
  const run = (...commands: Command[]) => commands.forEach((c) => controller.bus.dispatch(c));
  const act = (...actions: Action[]) => actions.forEach((action) => controller.bus.dispatch({ type: "action", action }));
  return { state, view, notify, socket, controller, heard, run, act };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("the viewer controller", () => {
  it("starts on the middle slice, subscribes when the socket first opens, and tells the server where the user looks", async () => {
    const { state, view, socket, controller } = setup();
    state.slice = 0;
    await controller.start();
    expect(state.slice).toBe(2);
    expect(view.calls.slice(0, 3)).toEqual(["tool", "labels", "historyButtons"]);
    expect(socket.subscriptions).toEqual([]);
    socket.setStatus({ state: "open", reconnected: false });
    await settle();
    expect(socket.subscriptions).toEqual([{ scope: { kind: "series", id: 7 }, extra: { label_id: LIVER.id } }]);
    expect(socket.sent).toContainEqual({ type: "view", series_id: 7, slice_index: 2 });
    expect([...state.ready]).toEqual([1, 2]);
    expect(state.presence).toEqual([{ username: "jon", slice_index: 4 }]);
    expect(view.calls).toContain("presence");
  });

  it("changes tools from keys and buttons, but never to an editing tool for a reviewer", () => {
    const annotator = setup();
    annotator.act("tool.brush");
    expect(annotator.state.tool).toBe("brush");
    const reviewer = setup(viewerState({ role: "reviewer" }));
    reviewer.act("tool.brush", "tool.fill");
    expect(reviewer.state.tool).toBe("pan");
    reviewer.act("tool.box", "tool.pan");
    expect(reviewer.state.tool).toBe("pan");
    expect(reviewer.view.calls).toEqual(["tool"]);
  });

  it("sizes the brush within 1–100 pixels", () => {
    const { state, run, act } = setup();
    act("brush.larger");
    expect(state.brushRadius).toBe(9);
    act("brush.smaller", "brush.smaller");
    expect(state.brushRadius).toBe(6);
    run({ type: "brush.size", radius: 500 });
    expect(state.brushRadius).toBe(100);
    run({ type: "brush.size", radius: 1 });
    act("brush.smaller");
    expect(state.brushRadius).toBe(1);
  });

  it("picks labels by number, carrying a pending candidate along, and re-subscribes for a label with another model window", async () => {
    const { state, socket, controller, act, run } = setup();
    await controller.start();
    socket.setStatus({ state: "open", reconnected: false });
    state.candidate = { slice: 2, labelId: LIVER.id, masks: [{ mask: maskWith([[1, 1]]), iou: 1 }], index: 0, model: "m" };
    act("label.3");
    expect(state.activeLabel).toEqual(TUMOUR);
    expect(state.candidate.labelId).toBe(TUMOUR.id);
    expect(socket.subscriptions).toHaveLength(1); // Tumour uses Liver's soft-tissue window
    act("label.2");
    expect(state.activeLabel).toEqual(LUNG);
    expect(socket.subscriptions.at(-1)).toEqual({ scope: { kind: "series", id: 7 }, extra: { label_id: LUNG.id } });
    act("label.9");
    expect(state.activeLabel).toEqual(LUNG);
    run({ type: "label.visibility", labelId: LUNG.id });
    expect([...state.hiddenLabels]).toEqual([LUNG.id]);
    run({ type: "label.visibility", labelId: LUNG.id });
    expect([...state.hiddenLabels]).toEqual([]);
  });

  it("moves through slices by one and by ten, within the series", async () => {
    const { state, act, run } = setup(viewerState({ depth: 30 }));
    state.slice = 15;
    act("slice.next");
    expect(state.slice).toBe(16);
    act("slice.previous10");
    expect(state.slice).toBe(6);
    act("slice.previous10");
    expect(state.slice).toBe(0);
    run({ type: "slice.go", index: 40 });
    expect(state.slice).toBe(29);
    await settle();
  });

  it("zooms, pans, fits, hides and shows the masks, and opens the help", () => {
    const { state, view, act, run } = setup();
    const fitted = state.viewport.scale;
    act("zoom.in");
    expect(state.viewport.scale).toBeCloseTo(fitted * 1.25);
    act("zoom.out", "zoom.out");
    expect(state.viewport.scale).toBeCloseTo(fitted * 0.8);
    run({ type: "pan", dx: 5, dy: -3 }, { type: "zoom", sx: 0, sy: 0, factor: 2 });
    act("zoom.fit");
    expect(state.viewport.scale).toBe(fitted);
    act("opacity.toggle");
    expect(state.masksVisible).toBe(false);
    run({ type: "opacity.set", opacity: 0.3 });
    expect([state.masksVisible, state.opacity]).toEqual([true, 0.3]);
    act("help");
    expect([state.helpOpen, view.calls.at(-1)]).toEqual([true, "help"]);
    act("help");
    expect(state.helpOpen).toBe(false);
    // Esc closes the open help and leaves the candidate; with the help closed it discards the candidate.
    state.candidate = { slice: 0, labelId: state.labels[0]!.id, masks: [], index: 0, model: "m" };
    act("help", "discard");
    expect([state.helpOpen, state.candidate !== null]).toEqual([false, true]);
    act("discard");
    expect(state.candidate).toBeNull();
  });

  it("goes from a box to an accepted mask to an undo, every step passing through the bus", async () => {
    const { state, socket, controller, heard, run, act } = setup();
    await controller.start();
    socket.setStatus({ state: "open", reconnected: false });
    const model = maskWith([[3, 3], [4, 3], [3, 4]]);
    socket.answer = (m) => ({
      type: "prompt.result",
      request_id: "r",
      series_id: 7,
      slice_index: m.slice_index,
      masks: [{ rle: encode(model, 8, 10), iou: 0.9 }],
      model: "litemedsam@1",
      embedding_computed: false,
      timings: { decode_ms: 10, total_ms: 20 },
    });
    run({ type: "prompt.box", box: [2, 2, 6, 6] });
    await settle();
    expect(state.candidate?.masks[0]!.mask).toEqual(model);
    act("accept");
    expect(state.volume.peek(LIVER.id, 2)).toEqual(model);
    expect(controller.sync.autosave.hasUnsaved).toBe(true);
    act("undo");
    expect(state.volume.peek(LIVER.id, 2)).toEqual(new Uint8Array(80));
    act("redo");
    expect(state.volume.peek(LIVER.id, 2)).toEqual(model);
    expect(heard.map((d) => d.command)).toEqual([
      { type: "prompt.box", box: [2, 2, 6, 6] },
      { type: "action", action: "accept" },
      { type: "action", action: "undo" },
      { type: "action", action: "redo" },
    ]);
    controller.sync.autosave.dispose();
  });

  it("counts embedding.ready messages and keeps only those of its series and the model's window", async () => {
    const { state, socket, controller } = setup();
    await controller.start();
    socket.setStatus({ state: "open", reconnected: false });
    await settle();
    const ready = (series_id: number, slice_index: number, preset: string) => socket.handlers.onEvent({ type: "embedding.ready", series_id, slice_index, preset });
    ready(7, 4, "soft_tissue");
    ready(7, 3, "lung");
    ready(8, 0, "soft_tissue");
    expect([...state.ready].sort()).toEqual([1, 2, 4]);
    expect(state.embeddingEvents).toBe(3);
  });

  it("follows presence of its own series only and shows server errors", () => {
    const { state, notify, socket } = setup();
    socket.handlers.onEvent({ type: "presence", series_id: 8, users: [{ username: "x", slice_index: 1 }] });
    expect(state.presence).toEqual([]);
    socket.handlers.onEvent({ type: "presence", series_id: 7, users: [{ username: "jon", slice_index: 1 }] });
    expect(state.presence).toEqual([{ username: "jon", slice_index: 1 }]);
    socket.handlers.onEvent({ type: "error", request_id: null, code: "forbidden", message: "Not your series." });
    expect(notify.shown.at(-1)).toMatchObject({ message: "Not your series.", tone: "error" });
  });

  it("says when the connection drops, comes back, or the session expired", async () => {
    const { notify, socket, view, controller } = setup();
    await controller.start();
    socket.setStatus({ state: "reconnecting", attempt: 1, delayMs: 500 });
    socket.setStatus({ state: "reconnecting", attempt: 2, delayMs: 1000 });
    socket.setStatus({ state: "open", reconnected: true });
    socket.setStatus({ state: "unauthorized" });
    expect(notify.shown.map((s) => s.tone)).toEqual(["warn", "ok", "error"]);
    expect(notify.shown[1]!.message).toBe("Reconnected to the server.");
    expect(view.calls.filter((c) => c === "connection")).toHaveLength(5);
  });

  it("opens on the first slice holding a mask, and [ / ] jump between the slices holding one", async () => {
    const state = viewerState({ depth: 30 });
    const { controller, act, view } = setup(state);
    // Saved masks are loaded at start: pretend they hold slices 7 and 19.
    controller.sync.loadAll = async () => {
      state.volume.set(LIVER.id, 7, maskWith([[1, 1]]));
      state.volume.set(LUNG.id, 19, maskWith([[2, 2]]));
    };
    await controller.start();
    expect(state.slice).toBe(7);
    act("slice.next-annotated");
    expect(state.slice).toBe(19);
    act("slice.next-annotated");
    expect(state.slice).toBe(19);
    expect(view.hints.at(-1)).toBe("No annotated slice after this one.");
    act("slice.previous-annotated");
    expect(state.slice).toBe(7);
    await settle();
  });

  it("switches the main view to another plane at the crosshair and follows that plane's embeddings", async () => {
    const state = viewerState({ series: { planes: PLANES_2MM } });
    const { controller, socket, act, run, view } = setup(state);
    await controller.start();
    socket.setStatus({ state: "open", reconnected: false });
    await settle();
    state.cursor = { x: 4, y: 6, z: 2 };
    act("plane.coronal");
    expect([state.plane, state.slice]).toEqual(["coronal", 6]);
    expect(view.calls).toContain("plane");
    expect(state.ready.size).toBe(0); // the axial slices' readiness says nothing of coronal ones
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(socket.sent).toContainEqual({ type: "view", series_id: 7, slice_index: 6, plane: "coronal" });
    socket.handlers.onEvent({ type: "embeddings.state", series_id: 7, plane: "coronal", preset: "soft_tissue", ready: [5, 6], total: 8 });
    socket.handlers.onEvent({ type: "embedding.ready", series_id: 7, slice_index: 7, preset: "soft_tissue", plane: "coronal" });
    socket.handlers.onEvent({ type: "embedding.ready", series_id: 7, slice_index: 0, preset: "soft_tissue" });
    expect([...state.ready].sort()).toEqual([5, 6, 7]);
    // A click in the small sagittal view at display (3, 1): column y 3, row 0 (the top slice, z 4).
    run({ type: "crosshair.point", plane: "sagittal", x: 3.5, y: 1 });
    expect(state.cursor).toEqual({ x: 4, y: 3, z: 4 });
    expect(state.slice).toBe(3); // the coronal main view followed to row y 3
    act("plane.axial");
    expect([state.plane, state.slice, [...state.ready].sort()]).toEqual(["axial", 4, [0, 1, 2]]);
    act("crosshair.toggle");
    expect(state.crosshairVisible).toBe(false);
    await settle();
  });

  it("keeps a 2D image on its one plane", async () => {
    const state = viewerState({ depth: 1, series: { kind: "image" } });
    const { notify, act } = setup(state);
    act("plane.sagittal");
    expect(state.plane).toBe("axial");
    expect(notify.shown.at(-1)?.message).toContain("no sagittal plane");
  });
});
