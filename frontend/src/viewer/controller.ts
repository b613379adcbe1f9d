/**
 * The viewer's controller: it owns the state object and the bus, builds the parts around them and
 * carries out every command the bus receives (keys, buttons, panels and mouse gestures all arrive as
 * commands). Server messages are routed to the part they concern. The parts never import this module:
 * each gets the state and the narrow callbacks it needs.
 */

import type { Api } from "../api";
import { endpoints } from "../endpoints";
import { Annotations, taskLabels } from "./annotations";
import { PlaneNavigation } from "./planeNav";
import type { Plane } from "./planes";
import { PlaneSources } from "./planeSources";
import { Readout } from "./readout";
import type { PromptMessage, PromptRefused, PromptResult, Scope, ServerMessage } from "../protocol";
import type { SocketStatus } from "../socket";
import { ViewerBus, type Command } from "./bus";
import { Editing } from "./editing";
import { Propagating } from "./propagating";
import { Prompting } from "./prompting";
import { readOnlyHint, Review, type ReviewView } from "./review";
import { isReviewCommand } from "./reviewState";
import { SliceSource } from "./sliceSource";
import { Slices } from "./slices";
import { currentGrid, type ViewerState } from "./state";
import { MaskSync } from "./sync";
import { EDIT_TOOLS, MODEL_TOOLS, type Action, type Tool } from "./tools";
import { clamp } from "./viewport";
import type { Notifier, ViewerView } from "./view";

/** The part of the socket the viewer uses (socket.ts AnnotatorSocket). */
export interface ViewerSocket {
  readonly isOpen: boolean;
  readonly status: SocketStatus;
  readonly socketId: string | null;
  connect(): void;
  send(message: { type: string } & Record<string, unknown>): boolean;
  request<T extends ServerMessage = ServerMessage>(message: { type: string } & Record<string, unknown>): Promise<T>;
  subscribe(scope: Scope, extra?: Record<string, unknown>): Promise<ServerMessage>;
  prompt(message: PromptMessage): Promise<PromptResult | PromptRefused>;
}

export interface SocketHandlers {
  onStatus(status: SocketStatus): void;
  onEvent(message: ServerMessage): void;
}

export interface ViewerServices {
  api: Api;
  notify: Notifier;
  /** Make the socket (not connected yet) that reports to `handlers`. */
  socket(handlers: SocketHandlers): ViewerSocket;
  /** the bus's clock; performance.now() by default */
  now?: () => number;
  autosave?: { delayMs?: number; maxDelayMs?: number };
  /** the case panels (review.ts's view) and how to open another page; none: no case panels */
  review?: { view: ReviewView; navigate(url: string): void };
}

export class ViewerController {
  readonly bus: ViewerBus;
  readonly socket: ViewerSocket;
  readonly source: SliceSource;
  readonly sync: MaskSync;
  readonly slices: Slices;
  readonly prompting: Prompting;
  readonly editing: Editing;
  readonly propagating: Propagating;
  readonly review: Review;
  // Planes (issue 15): every plane's slices, where the masks are, plane and crosshair moves, the readout
  readonly sources: PlaneSources;
  readonly annotations: Annotations;
  readonly planeNav: PlaneNavigation;
  readonly readout: Readout;
  /** The subscription waits for the socket's first opening. */
  private firstOpen: (() => unknown) | null = null;
  private marksQueued = false;

  constructor(
    readonly state: ViewerState,
    private readonly services: ViewerServices,
    readonly view: ViewerView,
  ) {
    const { api, notify } = services;
    this.bus = new ViewerBus((command) => this.execute(command), services.now);
    const { dispatch, emit } = this.bus;
    this.socket = services.socket({ onStatus: (s) => this.onSocketStatus(s), onEvent: (m) => this.onServerMessage(m) });
    const { series, geometry } = state;
    const load = async (url: string) => {
      const response = await api.response(url, { headers: { Accept: "*/*" } });
      return { buffer: await response.arrayBuffer(), dtype: response.headers.get("X-Dtype") };
    };
    this.source = new SliceSource({
      load: (z) => load(endpoints.sliceRaw(series, z)),
      dtype: geometry.channels === 3 ? "uint8" : series.dtype,
      height: geometry.height,
      width: geometry.width,
      channels: geometry.channels,
    });
    this.sources = new PlaneSources({
      grids: state.planes,
      axial: this.source,
      planeUrl: (plane, i) => endpoints.planeRaw(series, plane, i),
      voxelUrl: (plane, i) => endpoints.voxelPlaneRaw(series, plane === "coronal" ? "y" : "x", i),
      load,
      dtype: series.dtype,
      current: () => state.plane,
    });
    this.slices = new Slices({
      state,
      source: this.sources,
      view,
      notify,
      discardCandidate: () => this.prompting.discard(),
      shown: () => this.review.sliceShown(),
      sendView: (slice) =>
        this.socket.send({ type: "view", series_id: series.id, slice_index: slice, ...(state.plane !== "axial" ? { plane: state.plane } : {}) }),
    });
    const socketId = () => this.socket.socketId;
    const onLoaded = () => this.masksChanged();
    this.sync = new MaskSync({ state, api, socketId, view, notify, dispatch, emit, autosave: services.autosave, onLoaded });
    // Edits reach autosave through this marker, which also tells the slice bar's marks to recount.
    const autosave = {
      markDirty: (...args: Parameters<MaskSync["autosave"]["markDirty"]>) => {
        this.sync.autosave.markDirty(...args);
        this.masksChanged();
      },
    };
    this.annotations = new Annotations(state);
    const show = (index: number) => this.slices.show(index);
    this.planeNav = new PlaneNavigation({ state, annotations: this.annotations, view, notify, show, discard: () => this.prompting.discard() });
    this.readout = new Readout({
      state,
      current: () => this.slices.current(),
      voxelPlane: (plane, index) => this.sources.voxelPlane(plane, index, () => view.readout()),
    });
    this.prompting = new Prompting({ state, socket: this.socket, view, notify, emit, now: this.bus.now });
    const goToSlice = (z: number) => void this.slices.show(z);
    this.editing = new Editing({ state, autosave, view, goToSlice });
    const accept = () => this.editing.accept();
    const record = this.editing.record.bind(this.editing);
    this.propagating = new Propagating({ state, socket: this.socket, autosave, view, notify, accept, record });
    const reviewView = services.review?.view ?? { review: () => undefined, mask: () => view.mask(), redraw: () => view.redraw() };
    const navigate = services.review?.navigate ?? (() => undefined);
    this.review = new Review({ state, api, notify, view: reviewView, autosave: this.sync.autosave, navigate });
  }

  /** Draw the panels, connect, and load the saved masks and the middle slice. */
  async start(): Promise<void> {
    const { state, view } = this;
    view.tool();
    view.labels();
    view.historyButtons();
    if (state.readOnly) view.hint(readOnlyHint(state));
    this.connect();
    // Open where the masks are: the task's labels' first annotated slice, else any label's, else the middle.
    const [, labels] = await Promise.all([this.sync.loadAll(), taskLabels(this.services.api, state, endpoints.tasks(state.project.id)), this.review.load()]);
    await this.slices.show(this.annotations.first(state.plane, labels) ?? Math.floor(currentGrid(state).depth / 2));
  }

  /** Masks changed: the slice bar's marks are recounted (once for a burst of edits or propagated slices). */
  private masksChanged(): void {
    this.annotations.invalidate();
    if (this.marksQueued) return;
    this.marksQueued = true;
    setTimeout(() => {
      this.marksQueued = false;
      this.view.slices();
    }, 50);
  }

  private connect(): void {
    this.socket.connect();
    const subscribe = () =>
      this.socket
        .subscribe({ kind: "series", id: this.state.series.id }, subscribeExtra(this.state, this.state.activeLabel?.id))
        .then((reply) => this.onServerMessage(reply))
        .catch((error) => this.services.notify.error(error, "Subscribing to live updates"));
    const status = this.socket.status;
    if (status.state === "open" && !status.reconnected) void subscribe();
    else this.firstOpen = subscribe;
  }

  /** Carry out a command (the bus calls this; everything else calls `bus.dispatch`). */
  private execute(command: Command): void {
    const { state, view } = this;
    if (isReviewCommand(command)) return this.review.execute(command);
    switch (command.type) {
      case "action":
        return this.run(command.action);
      case "slice.go":
        return void this.slices.show(command.index);
      case "label.select":
        return this.selectLabel(command.labelId);
      case "label.visibility":
        if (!state.hiddenLabels.delete(command.labelId)) state.hiddenLabels.add(command.labelId);
        view.labels();
        return view.mask();
      case "candidate.choose":
        return this.prompting.choose(command.index);
      case "brush.size":
        return this.setBrush(command.radius);
      case "opacity.set":
        state.opacity = command.opacity;
        state.masksVisible = true;
        return view.mask();
      case "window.preset":
        return this.slices.setWindow(command.window, command.name);
      case "window.drag":
        return this.slices.dragWindow(command.window);
      case "window.drag-end":
        return this.slices.endWindowDrag();
      case "pan":
        state.viewport.panBy(command.dx, command.dy);
        return view.redraw();
      case "zoom":
        state.viewport.zoomAt(command.sx, command.sy, command.factor);
        return view.redraw();
      case "prompt.box":
        return void this.prompting.box(command.box);
      case "prompt.point":
        return void this.prompting.point(command, command.label);
      case "stroke.begin":
        return this.editing.strokeBegin(command, command.value);
      case "stroke.extend":
        return this.editing.strokeExtend(command);
      case "stroke.end":
        return this.editing.strokeEnd();
      case "fill":
        return this.editing.fill(command);
      case "propagation.cancel":
        return this.propagating.cancel();
      case "conflict.resolve":
        return void this.sync.resolveConflict(command.labelId, command.keepMine);
      case "plane.select":
        return void this.planeNav.select(command.plane);
      case "crosshair.point":
        return this.planeNav.point(command.plane, command.x, command.y);
    }
  }

  /** An action of the tools and shortcuts table. */
  private run(action: Action): void {
    const { state, view } = this;
    if (action.startsWith("tool.")) return this.setTool(action.slice(5) as Tool);
    if (action.startsWith("label.")) {
      const label = state.labels[Number(action.slice(6)) - 1];
      return label ? this.selectLabel(label.id) : undefined;
    }
    switch (action) {
      case "brush.smaller": return this.setBrush(Math.max(1, Math.round(state.brushRadius / 1.25)));
      case "brush.larger": return this.setBrush(Math.round(state.brushRadius * 1.25) + 1);
      case "accept": return this.editing.accept();
      case "discard":
        if (!state.helpOpen) return this.prompting.discard();
        state.helpOpen = false; // Esc closes the help first
        return view.help();
      case "next-mask": return this.prompting.nextMask();
      case "clear-slice": return this.editing.clearSlice();
      case "slice.next": return void this.slices.show(state.slice + 1);
      case "slice.previous": return void this.slices.show(state.slice - 1);
      case "slice.next10": return void this.slices.show(state.slice + 10);
      case "slice.previous10": return void this.slices.show(state.slice - 10);
      case "undo": return this.editing.undo();
      case "redo": return this.editing.redo();
      case "save": return void this.sync.autosave.flush();
      case "window.next-preset": return this.slices.nextPreset();
      case "zoom.fit":
        state.viewport.fit();
        return view.redraw();
      case "zoom.in":
      case "zoom.out": {
        const s = state.viewport.screen;
        state.viewport.zoomAt(s.width / 2, s.height / 2, action === "zoom.in" ? 1.25 : 0.8);
        return view.redraw();
      }
      case "opacity.toggle":
        state.masksVisible = !state.masksVisible;
        return view.mask();
      case "propagate": return this.state.modelAllowed ? void this.propagating.start() : undefined;
      case "help":
        state.helpOpen = !state.helpOpen;
        return view.help();
      case "plane.axial":
      case "plane.coronal":
      case "plane.sagittal": return void this.planeNav.select(action.slice(6) as Plane);
      case "slice.next-annotated": return this.planeNav.jump(1);
      case "slice.previous-annotated": return this.planeNav.jump(-1);
      case "crosshair.toggle": return this.planeNav.toggleCrosshair();
    }
  }

  private setTool(tool: Tool): void {
    if ((this.state.readOnly && EDIT_TOOLS.has(tool)) || (!this.state.modelAllowed && MODEL_TOOLS.has(tool))) return;
    this.state.tool = tool;
    this.view.tool();
  }

  private setBrush(radius: number): void {
    this.state.brushRadius = clamp(radius, 1, 100);
    this.view.brush();
  }

  private selectLabel(labelId: number): void {
    const { state } = this;
    const label = state.labels.find((l) => l.id === labelId);
    if (!label) return;
    const previous = state.activeLabel;
    state.activeLabel = label;
    // The model's input window is per label: a label with another preset needs other embeddings.
    if (previous && previous.window_preset !== label.window_preset && this.socket.isOpen) {
      this.socket
        .subscribe({ kind: "series", id: state.series.id }, subscribeExtra(state, label.id))
        .then((reply) => this.onServerMessage(reply))
        .catch((error) => this.services.notify.error(error, "Switching label"));
    }
    if (state.candidate) state.candidate.labelId = label.id;
    this.view.labels();
    this.view.mask();
  }

  private onSocketStatus(status: SocketStatus): void {
    const { notify } = this.services;
    this.view.connection(status);
    if (status.state === "open") {
      if (this.firstOpen) {
        const f = this.firstOpen;
        this.firstOpen = null;
        void f();
      }
      if (status.reconnected) notify.show("Reconnected to the server.", "ok");
      this.slices.sendView();
    } else if (status.state === "reconnecting" && status.attempt === 1) {
      notify.show("The connection to the server dropped. Reconnecting by itself…", "warn");
    } else if (status.state === "unauthorized") {
      notify.show("Your session has expired. Log in again to keep working.", "error");
    }
  }

  private onServerMessage(message: ServerMessage): void {
    const { state, view } = this;
    switch (message.type) {
      case "subscribed":
        if (message.embeddings) {
          state.embeddingPreset = message.embeddings.preset;
          this.planeNav.setReady("axial", message.embeddings.ready);
        }
        if (message.presence) state.presence = message.presence;
        view.slices();
        view.presence();
        // A subscription starts on the axial plane: say which plane is shown if it is another.
        if (state.plane !== "axial") this.slices.sendView();
        break;
      case "embedding.ready":
        state.embeddingEvents += 1;
        if (message.series_id === state.series.id && (!state.embeddingPreset || message.preset === state.embeddingPreset)) {
          this.planeNav.addReady(message.plane ?? "axial", message.slice_index);
        }
        break;
      case "embeddings.state":
        if (message.series_id === state.series.id && message.preset === state.embeddingPreset) this.planeNav.setReady(message.plane, message.ready);
        break;
      case "presence":
        if (message.series_id === state.series.id) {
          state.presence = message.users;
          view.presence();
        }
        break;
      case "propagate.slice":
      case "job.progress":
        this.propagating.onMessage(message);
        break;
      case "revision.created":
        if (message.series_id !== state.series.id) break;
        if (!message.consensus) void this.sync.onRevision(message.label_id, message.annotator, message.revision);
        this.review.onRevision(message.label_id, message.annotator, !!message.consensus);
        break;
      case "comment.created":
      case "comment.updated":
        this.review.onComment(message.comment);
        break;
      case "assignment.updated":
        this.review.onAssignment(message.assignment);
        break;
      case "error":
        this.services.notify.show(message.message, "error");
        break;
      default:
        break;
    }
  }
}

/** What a subscribe carries besides the scope: the label (its preset is the model's window) and the assignment. */
export function subscribeExtra(state: ViewerState, labelId: number | undefined): Record<string, unknown> {
  return {
    ...(labelId !== undefined ? { label_id: labelId } : {}),
    ...(state.assignmentId !== null ? { assignment_id: state.assignmentId } : {}),
  };
}
