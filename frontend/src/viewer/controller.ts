/**
 * The viewer: a stack of three canvases (image, mask overlay, prompts) over one viewport, a toolbar, the
 * slice slider with per-slice embedding readiness, the label picker, the help overlay and the status line.
 * It wires the pure modules (windowing, maskLayer, brush, history, viewport, rle) to the REST API, the
 * WebSocket protocol (docs/protocol.md) and autosave; all the arithmetic lives in those modules.
 */

import { Api } from "../api";
import { Autosaver, describeAutosave, revisionName, type AutosaveState } from "./autosave";
import { floodFill, stampDisc, strokeSegment, type Point } from "./brush";
import {
  endpoints,
  SOCKET_HEADER,
  type LabelInfo,
  type ProjectInfo,
  type SeriesInfo,
  type WindowPresetInfo,
} from "../endpoints";
import { applyFlips, diffMasks, History, nearestSlice, type EditSource, type SliceChange } from "./history";
import type { PageContext } from "../pageContext";
import { countOpaque, countSet, imageToClient, type ProbeMask, type ViewerProbe } from "./probe";
import { composite, MaskVolume, parseColor, unionRect, type OverlayLayer, type Rect } from "./maskLayer";
import { EarlyMessages, PropagationRun } from "./propagation";
import type { JobState, PresenceUser, PromptResult, RevisionSummary, ServerMessage, ServerMessageOf } from "../protocol";
import { decode, encode, type Rle } from "../rle";
import { actionForKey, EDIT_TOOLS, keyHint, SHORTCUTS, TOOLS, type Action, type Tool } from "./tools";
import { rgbToRgba, SliceSource, type RawSlice } from "./sliceSource";
import { AnnotatorSocket, describeStatus, socketUrl, type SocketStatus } from "../socket";
import { header } from "../ui/chrome";
import { clear, h } from "../ui/dom";
import { CT_PRESETS, applyWindow, describeWindow, dragSensitivity, dragWindow, intensityRange, percentileWindow, type DisplayWindow } from "./windowing";
import { clamp, Viewport, wheelZoomFactor } from "./viewport";

interface Candidate {
  slice: number;
  labelId: number;
  masks: { mask: Uint8Array; iou: number }[];
  index: number;
  model: string;
}

interface PromptState {
  slice: number;
  box: [number, number, number, number] | null;
  points: { x: number; y: number; label: 0 | 1 }[];
}

interface Drag {
  kind: "box" | "pan" | "window" | "stroke";
  startX: number;
  startY: number;
  lastX: number;
  lastY: number;
  startWindow?: DisplayWindow;
  /** intensity units per screen pixel of a window drag, from the slice's range at the drag's start */
  sensitivity?: number;
  imageStart?: Point;
  imageLast?: Point;
  before?: Uint8Array;
  dirty?: Rect | null;
  labelId?: number;
  slice?: number;
  value?: 0 | 1;
}

/** Numbers the end-to-end round reads (window.__delineate.perf): box mouse-up → mask drawn; brush frames. */
export interface PerfLog {
  boxToMaskMs: number[];
  /** The worker's share of each of those (prompt.result timings.total_ms). */
  promptServerMs: number[];
  brushFrameMs: number[];
}

function presetsFor(series: SeriesInfo, slice: RawSlice | undefined): WindowPresetInfo[] {
  if (series.window_presets?.length) return series.window_presets;
  if (series.modality === "CT") return CT_PRESETS.map((p) => ({ name: p.key, level: p.level, width: p.width }));
  if (slice) return [{ name: "auto", ...percentileWindow(slice.values) }];
  return [];
}

function prettyPreset(name: string): string {
  return name.replace(/_/g, " ").replace(/^\w/, (c) => c.toUpperCase());
}

export class Viewer {
  private readonly api = new Api();
  private socket!: AnnotatorSocket;
  private project!: ProjectInfo;
  private series!: SeriesInfo;
  private labels: LabelInfo[] = [];
  private activeLabel: LabelInfo | null = null;
  private hiddenLabels = new Set<number>();
  private volume!: MaskVolume;
  private readonly history = new History();
  private autosave!: Autosaver;
  private source!: SliceSource;
  private viewport!: Viewport;
  private depth = 1;
  private height = 0;
  private width = 0;
  private channels: 1 | 3 = 1;
  private slice = 0;
  private tool: Tool = "box";
  private brushRadius = 6;
  private opacity = 0.5;
  private masksVisible = true;
  private window: DisplayWindow = { level: 40, width: 400 };
  private windowName = "";
  private ready = new Set<number>();
  private embeddingPreset = "";
  private presence: PresenceUser[] = [];
  private candidate: Candidate | null = null;
  private prompt: PromptState | null = null;
  private firstPredictions = new Map<string, { rle: Rle; iou: number; model: string }>();
  private promptPending = false;
  /** The current or last propagation (its panel line stays after it ends). */
  private propagation: PropagationRun | null = null;
  /** A propagate request waits for its job.created reply; the job's messages arriving first are held. */
  private startingJob = false;
  private readonly early = new EarlyMessages<ServerMessage>();
  /** embedding.ready messages received (the window/level test checks that dragging causes none). */
  private embeddingEvents = 0;
  private drag: Drag | null = null;
  private spaceHeld = false;
  private pointer: Point | null = null;
  private readOnly: boolean;
  private drawQueued = false;
  private viewTimer: ReturnType<typeof setTimeout> | null = null;
  readonly perf: PerfLog = { boxToMaskMs: [], promptServerMs: [], brushFrameMs: [] };

  // DOM
  private readonly stage = h("div", { class: "stage", tabindex: 0 });
  private readonly imageCanvas = h("canvas", { class: "layer layer-image" });
  private readonly maskCanvas = h("canvas", { class: "layer layer-mask" });
  private readonly promptCanvas = h("canvas", { class: "layer layer-prompt" });
  private readonly imageBuffer = document.createElement("canvas");
  private readonly maskBuffer = document.createElement("canvas");
  private imageData: ImageData | null = null;
  private maskData: ImageData | null = null;
  private readonly toolbar = h("div", { class: "toolbar", role: "toolbar" });
  private readonly slider = h("input", { type: "range", min: 0, max: 0, value: 0, class: "slice-slider", "aria-label": "Slice" }) as HTMLInputElement;
  private readonly readiness = h("canvas", { class: "readiness", height: 6, title: "Green: the slice's embedding is ready" });
  private readonly sliceLabel = h("span", { class: "slice-label" });
  private readonly labelList = h("div", { class: "label-list" });
  private readonly candidateBox = h("div", { class: "candidates" });
  private readonly jobBox = h("div", { class: "job" });
  private readonly presenceBox = h("div", { class: "presence" });
  private readonly windowBox = h("div", { class: "window-presets" });
  private readonly statusConn = h("span", { class: "status-conn" });
  private readonly statusSave = h("span", { class: "status-save" });
  private readonly statusHint = h("span", { class: "status-hint" });
  private readonly help: HTMLElement;
  private readonly undoButton = h("button", { type: "button", title: "Undo (Ctrl+Z)" }, "Undo") as HTMLButtonElement;
  private readonly redoButton = h("button", { type: "button", title: "Redo (Ctrl+Shift+Z)" }, "Redo") as HTMLButtonElement;
  private readonly cancelButton = h("button", { type: "button", class: "job-cancel", title: "Stop the propagation; slices already filled are kept" }, "Cancel") as HTMLButtonElement;
  private readonly propagateButton = h("button", { type: "button", title: "Propagate through the volume (G)" }, "Propagate 3D") as HTMLButtonElement;

  constructor(private readonly ctx: PageContext) {
    this.readOnly = ctx.role === "reviewer";
    this.help = this.buildHelp();
  }

  async start(): Promise<void> {
    const { root, seriesId, projectId } = this.ctx;
    const crumbs = [{ text: "Project", href: `/projects/${projectId}/` }, { text: "Series" }];
    const head = header(this.ctx.username, crumbs);
    this.stage.append(this.imageCanvas, this.maskCanvas, this.promptCanvas, this.help);
    // Messages float over the top of the image, below the toolbar: fixed under the page header they hid the
    // toolbar's Accept / Undo buttons (seen in the end-to-end screenshots).
    this.stage.append(this.ctx.banner.element);
    root.append(
      head,
      h(
        "div",
        { class: "viewer" },
        h("div", { class: "viewer-main" }, this.toolbar, this.stage, h("div", { class: "slice-bar" }, this.sliceLabel, h("div", { class: "slider-wrap" }, this.slider, this.readiness))),
        h(
          "aside",
          { class: "viewer-side" },
          h("h3", {}, "Labels"),
          this.labelList,
          h("h3", {}, "Mask"),
          this.candidateBox,
          this.jobBox,
          h("h3", {}, "Window"),
          this.windowBox,
          h("h3", {}, "Here now"),
          this.presenceBox,
        ),
      ),
      h("footer", { class: "statusbar" }, this.statusConn, this.statusSave, this.statusHint),
    );

    const [project, series] = await Promise.all([
      this.api.get<ProjectInfo>(endpoints.project(projectId!)),
      this.api.get<SeriesInfo>(endpoints.series(seriesId!)),
    ]);
    this.project = project;
    this.series = series;
    this.labels = project.labels;
    this.activeLabel = this.labels[0] ?? null;
    head.querySelector(".crumbs a")!.textContent = this.project.name;
    document.title = `${series.description || series.modality} · ${this.project.name} · Delineate`;
    head.querySelector(".crumbs span:last-child")!.textContent = series.description || `${series.modality} series`;
    this.setupGeometry(series);
    this.buildToolbar();
    this.renderLabels();
    this.bindInput();
    this.updateHistoryButtons();
    if (this.readOnly) this.hint("Read-only: reviewers can look and comment but not edit masks.");

    this.connectSocket();
    await Promise.all([this.loadMasks(), this.showSlice(Math.floor(this.depth / 2))]);
    (window as unknown as { __delineate: unknown }).__delineate = { viewer: this, ...this.probe() };
  }

  /** What the end-to-end tests read (probe.ts); set once the saved masks and the first slice are loaded. */
  private probe(): ViewerProbe {
    const maskOf = (z: number, labelId: number, mask: Uint8Array): ProbeMask => ({
      slice: z,
      labelId,
      pixels: countSet(mask),
      rle: encode(mask, this.height, this.width),
    });
    return {
      perf: this.perf,
      imageToScreen: (x, y) => imageToClient(this.viewport, this.promptCanvas.getBoundingClientRect(), x, y),
      slice: () => this.slice,
      activeLabelId: () => this.activeLabel?.id ?? null,
      embeddingReady: () => this.ready.has(this.slice),
      mask: (z = this.slice, labelId = this.activeLabel?.id ?? 0) =>
        maskOf(z, labelId, this.volume.peek(labelId, z) ?? new Uint8Array(this.width * this.height)),
      candidate: () => {
        const c = this.candidate;
        return c ? { ...maskOf(c.slice, c.labelId, c.masks[c.index]!.mask), iou: c.masks[c.index]!.iou } : null;
      },
      overlayPixels: () => (this.maskData ? countOpaque(this.maskData.data) : 0),
      screenMaskPixels: () => {
        const { width, height } = this.maskCanvas;
        return countOpaque(this.maskCanvas.getContext("2d")!.getImageData(0, 0, width, height).data);
      },
      hasUnsaved: () => this.autosave.hasUnsaved,
      readySlices: () => [...this.ready].sort((a, b) => a - b),
      embeddingEvents: () => this.embeddingEvents,
      displayWindow: () => ({ ...this.window }),
      propagation: () => {
        const r = this.propagation;
        return r
          ? { jobId: r.jobId, phase: r.phase, received: r.received, slices: r.slices, dropped: r.dropped, lateEvents: r.lateEvents, text: r.describe() }
          : null;
      },
    };
  }

  // --- setup -------------------------------------------------------------------------------------------
  private setupGeometry(series: SeriesInfo): void {
    const shape = series.shape;
    this.channels = shape.length === 4 && shape[3] === 3 ? 3 : 1;
    this.depth = series.kind === "image" ? 1 : shape[0]!;
    this.height = shape[1]!;
    this.width = shape[2]!;
    this.volume = new MaskVolume(this.depth, this.height, this.width);
    this.imageBuffer.width = this.maskBuffer.width = this.width;
    this.imageBuffer.height = this.maskBuffer.height = this.height;
    this.imageData = new ImageData(this.width, this.height);
    this.maskData = new ImageData(this.width, this.height);
    this.viewport = new Viewport({ width: this.width, height: this.height }, { width: 800, height: 600 });
    this.slider.max = String(this.depth - 1);
    this.slider.disabled = this.depth <= 1;
    this.readiness.width = Math.min(this.depth, 1024);
    this.source = new SliceSource({
      load: async (z) => {
        const response = await this.api.response(endpoints.sliceRaw(series, z), { headers: { Accept: "*/*" } });
        return { buffer: await response.arrayBuffer(), dtype: response.headers.get("X-Dtype") };
      },
      dtype: this.channels === 3 ? "uint8" : series.dtype,
      height: this.height,
      width: this.width,
      channels: this.channels,
    });
    this.autosave = new Autosaver({
      save: (batch) => this.saveBatch(batch.labelId, batch.baseRevisionId, batch.slices, batch.source),
      onState: (state) => this.onAutosave(state),
    });
    window.addEventListener("beforeunload", (ev) => {
      if (this.autosave.hasUnsaved) {
        void this.autosave.flush();
        ev.preventDefault();
      }
    });
  }

  private connectSocket(): void {
    this.socket = new AnnotatorSocket({
      url: socketUrl(window.location),
      onStatus: (status) => this.onSocketStatus(status),
      onEvent: (message) => this.onServerMessage(message),
    });
    this.socket.connect();
    const subscribe = () =>
      this.socket
        .subscribe({ kind: "series", id: this.series.id }, this.activeLabel ? { label_id: this.activeLabel.id } : {})
        .then((reply) => this.onServerMessage(reply))
        .catch((error) => this.ctx.banner.error(error, "Subscribing to live updates"));
    const onOpenOnce = (status: SocketStatus) => status.state === "open" && !status.reconnected;
    if (onOpenOnce(this.socket.status)) void subscribe();
    else this.firstOpen = subscribe;
  }

  private firstOpen: (() => unknown) | null = null;

  private async loadMasks(): Promise<void> {
    await Promise.all(
      this.labels.map(async (label) => {
        try {
          const data = await this.api.get<{ revision: RevisionSummary | null; slices: Record<string, Rle> }>(
            endpoints.labelMask(this.series.id, label.id),
          );
          for (const [z, rle] of Object.entries(data.slices)) {
            decode(rle, [this.height, this.width], this.volume.get(label.id, Number(z)));
          }
          this.autosave.setBase(label.id, data.revision?.id ?? null);
        } catch (error) {
          this.ctx.banner.error(error, `Loading the saved ${label.name} mask`);
        }
      }),
    );
    this.renderMask();
  }

  // --- server messages ---------------------------------------------------------------------------------
  private onSocketStatus(status: SocketStatus): void {
    const text = describeStatus(status);
    this.statusConn.textContent = status.state === "open" ? "● Live" : `○ ${text ?? "Offline"}`;
    this.statusConn.className = `status-conn ${status.state}`;
    if (status.state === "open") {
      if (this.firstOpen) {
        const f = this.firstOpen;
        this.firstOpen = null;
        void f();
      }
      if (status.reconnected) this.ctx.banner.show("Reconnected to the server.", "ok");
      this.sendView();
    } else if (status.state === "reconnecting" && status.attempt === 1) {
      this.ctx.banner.show("The connection to the server dropped. Reconnecting by itself…", "warn");
    } else if (status.state === "unauthorized") {
      this.ctx.banner.show("Your session has expired. Log in again to keep working.", "error");
    }
  }

  private onServerMessage(message: ServerMessage): void {
    switch (message.type) {
      case "subscribed":
        if (message.embeddings) {
          this.embeddingPreset = message.embeddings.preset;
          this.ready = new Set(message.embeddings.ready);
        }
        if (message.presence) this.presence = message.presence;
        this.renderReadiness();
        this.renderPresence();
        break;
      case "embedding.ready":
        this.embeddingEvents += 1;
        if (message.series_id === this.series.id && (!this.embeddingPreset || message.preset === this.embeddingPreset)) {
          this.ready.add(message.slice_index);
          this.renderReadiness();
        }
        break;
      case "presence":
        if (message.series_id === this.series.id) {
          this.presence = message.users;
          this.renderPresence();
        }
        break;
      case "propagate.slice":
        if (this.propagation?.jobId === message.job_id) this.onPropagatedSlice(this.propagation, message);
        else if (this.startingJob) this.early.hold(message.job_id, message);
        break;
      case "job.progress":
        if (this.propagation?.jobId === message.job.id) this.onJobProgress(this.propagation, message.job);
        else if (this.startingJob && message.job.kind === "propagate") this.early.hold(message.job.id, message);
        break;
      case "revision.created":
        if (message.series_id === this.series.id) void this.onRevision(message.label_id, message.annotator, message.revision);
        break;
      case "error":
        this.ctx.banner.show(message.message, "error");
        break;
      default:
        break;
    }
  }

  /**
   * A revision saved elsewhere. Another annotator's revision is their own track: announce it. One of ours
   * came from another window: load it when nothing here is unsaved (else autosave will report the conflict).
   */
  private async onRevision(labelId: number, annotator: string, revision: RevisionSummary): Promise<void> {
    const label = this.labels.find((l) => l.id === labelId);
    const z = revision.slices;
    const where = z.length ? ` (slice${z.length > 1 ? "s" : ""} ${z[0]! + 1}${z.length > 1 ? `–${z[z.length - 1]! + 1}` : ""})` : "";
    const name = label?.name ?? "a mask";
    if (annotator !== this.ctx.username) {
      this.ctx.banner.show(`${revision.author} saved ${name}, revision ${revision.number}${where}.`, "info", 6000);
      return;
    }
    if (!label || this.autosave.dirtySlices(labelId).length || this.autosave.baseOf(labelId) === revision.id) return;
    await this.reloadLabel(label);
    this.ctx.banner.show(`Loaded ${name} revision ${revision.number}${where}, saved from another window.`, "info", 6000);
  }

  /** After a 409: load the other save, then either drop our unsaved slices or save them on top of it. */
  private async resolveConflict(labelId: number, keepMine: boolean): Promise<void> {
    const label = this.labels.find((l) => l.id === labelId);
    if (!label) return;
    try {
      // Say when it is done: loading the other save takes a request, and the canvas change may be small.
      // The status line's "saving is paused" hint no longer holds either.
      if (keepMine) {
        const data = await this.api.get<{ revision: RevisionSummary | null }>(endpoints.labelMask(this.series.id, labelId));
        this.autosave.resolveConflict(labelId, data.revision?.id ?? null, true);
        this.ctx.banner.show(`Saving your ${label.name} changes on top of ${revisionName(data.revision)}.`, "ok");
      } else {
        const revision = await this.reloadLabel(label);
        this.autosave.resolveConflict(labelId, this.autosave.baseOf(labelId), false);
        this.ctx.banner.show(`Loaded ${label.name} ${revisionName(revision)}; your unsaved changes to it were dropped.`, "ok");
      }
      this.hint("");
    } catch (error) {
      this.ctx.banner.error(error, "Resolving the conflict");
    }
  }

  /** Replace the label's masks by its saved head; returns that revision. */
  private async reloadLabel(label: LabelInfo): Promise<RevisionSummary | null> {
    const data = await this.api.get<{ revision: RevisionSummary | null; slices: Record<string, Rle> }>(
      endpoints.labelMask(this.series.id, label.id),
    );
    for (let z = 0; z < this.depth; z++) this.volume.clear(label.id, z);
    for (const [z, rle] of Object.entries(data.slices)) decode(rle, [this.height, this.width], this.volume.get(label.id, Number(z)));
    this.autosave.setBase(label.id, data.revision?.id ?? null);
    // Undo steps were recorded against the content just replaced.
    this.history.clear();
    this.updateHistoryButtons();
    this.renderMask();
    return data.revision;
  }

  // --- slices and rendering ----------------------------------------------------------------------------
  async showSlice(index: number): Promise<void> {
    const z = clamp(Math.round(index), 0, this.depth - 1);
    const changed = z !== this.slice;
    this.slice = z;
    this.slider.value = String(z);
    if (changed && this.candidate && this.candidate.slice !== z) this.discardCandidate();
    this.renderSliceLabel();
    this.renderReadiness();
    this.renderMask();
    this.scheduleView();
    try {
      const raw = await this.source.get(z);
      if (this.slice !== z) return; // scrolled on meanwhile
      if (!this.windowName) this.pickDefaultWindow(raw);
      this.renderImage(raw);
      this.source.prefetch([z + 1, z - 1, z + 2, z - 2].filter((i) => i >= 0 && i < this.depth));
    } catch (error) {
      if (this.slice === z) this.ctx.banner.error(error, `Loading slice ${z + 1}`);
    }
  }

  private pickDefaultWindow(raw: RawSlice): void {
    const presets = presetsFor(this.series, raw);
    const preset = presets.find((p) => p.name === this.series.default_window) ?? presets[0];
    if (preset) {
      this.window = { level: preset.level, width: preset.width };
      this.windowName = preset.name;
    } else {
      const range = intensityRange(raw.values);
      this.window = { level: (range.min + range.max) / 2, width: Math.max(1, range.max - range.min) };
      this.windowName = "range";
    }
    this.renderWindowPresets(raw);
  }

  private renderImage(raw: RawSlice | undefined = this.source.cached(this.slice)): void {
    if (!raw || !this.imageData) return;
    if (raw.channels === 3) rgbToRgba(raw.values as Uint8Array, this.imageData.data);
    else applyWindow(raw.values, this.window, this.imageData.data);
    this.imageBuffer.getContext("2d")!.putImageData(this.imageData, 0, 0);
    this.requestDraw();
  }

  private overlayLayers(): OverlayLayer[] {
    const layers: OverlayLayer[] = [];
    for (const label of this.labels) {
      if (this.hiddenLabels.has(label.id)) continue;
      const mask = this.volume.peek(label.id, this.slice);
      if (mask) layers.push({ mask, color: parseColor(label.color) });
    }
    const c = this.candidate;
    if (c && c.slice === this.slice) {
      const label = this.labels.find((l) => l.id === c.labelId);
      layers.push({ mask: c.masks[c.index]!.mask, color: parseColor(label?.color ?? "#ffff00"), alpha: 0.7 });
    }
    return layers;
  }

  private renderMask(rect?: Rect | null): void {
    if (!this.maskData) return;
    const opacity = this.masksVisible ? this.opacity : 0;
    composite(this.overlayLayers(), opacity, this.maskData.data, this.width, rect ?? undefined);
    const ctx = this.maskBuffer.getContext("2d")!;
    if (rect) ctx.putImageData(this.maskData, 0, 0, rect.x0, rect.y0, rect.x1 - rect.x0, rect.y1 - rect.y0);
    else ctx.putImageData(this.maskData, 0, 0);
    this.requestDraw();
  }

  private requestDraw(): void {
    if (this.drawQueued) return;
    this.drawQueued = true;
    requestAnimationFrame(() => {
      this.drawQueued = false;
      this.draw();
    });
  }

  private draw(): void {
    const dpr = window.devicePixelRatio || 1;
    const m = this.viewport.matrix(dpr);
    for (const [canvas, buffer] of [
      [this.imageCanvas, this.imageBuffer],
      [this.maskCanvas, this.maskBuffer],
    ] as const) {
      const ctx = canvas.getContext("2d")!;
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      ctx.imageSmoothingEnabled = this.viewport.scale < 1;
      ctx.setTransform(...m);
      ctx.drawImage(buffer, 0, 0);
    }
    this.drawPrompts();
  }

  private drawPrompts(): void {
    const ctx = this.promptCanvas.getContext("2d")!;
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.promptCanvas.width, this.promptCanvas.height);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const toScreen = (x: number, y: number) => this.viewport.toScreen(x, y);
    const boxOf = (b: [number, number, number, number]) => {
      const [x0, y0] = toScreen(b[0], b[1]);
      const [x1, y1] = toScreen(b[2], b[3]);
      return [x0, y0, x1 - x0, y1 - y0] as const;
    };
    ctx.lineWidth = 2;
    if (this.prompt && this.prompt.slice === this.slice) {
      if (this.prompt.box) {
        ctx.strokeStyle = "#4fc3f7";
        ctx.strokeRect(...boxOf(this.prompt.box));
      }
      for (const p of this.prompt.points) {
        const [sx, sy] = toScreen(p.x, p.y);
        ctx.fillStyle = p.label ? "#43a047" : "#e53935";
        ctx.beginPath();
        ctx.arc(sx, sy, 5, 0, Math.PI * 2);
        ctx.fill();
        ctx.strokeStyle = "#fff";
        ctx.stroke();
      }
    }
    const d = this.drag;
    if (d?.kind === "box" && d.imageStart && d.imageLast) {
      ctx.setLineDash([6, 4]);
      ctx.strokeStyle = "#4fc3f7";
      ctx.strokeRect(...boxOf([d.imageStart.x, d.imageStart.y, d.imageLast.x, d.imageLast.y]));
      ctx.setLineDash([]);
    }
    if (this.pointer && (this.tool === "brush" || this.tool === "eraser") && !this.readOnly) {
      const [sx, sy] = toScreen(this.pointer.x, this.pointer.y);
      ctx.strokeStyle = this.tool === "eraser" ? "#fff" : (this.activeLabel?.color ?? "#fff");
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.arc(sx, sy, this.brushRadius * this.viewport.scale, 0, Math.PI * 2);
      ctx.stroke();
    }
  }

  private resize(): void {
    const rect = this.stage.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    for (const canvas of [this.imageCanvas, this.maskCanvas, this.promptCanvas]) {
      canvas.width = Math.max(1, Math.round(rect.width * dpr));
      canvas.height = Math.max(1, Math.round(rect.height * dpr));
    }
    const first = this.viewport.screen.width === 800 && this.viewport.screen.height === 600 && !this.resized;
    this.viewport.resize({ width: rect.width, height: rect.height });
    if (first) this.viewport.fit();
    this.resized = true;
    this.draw();
  }

  private resized = false;

  // --- side panels -------------------------------------------------------------------------------------
  private buildToolbar(): void {
    clear(this.toolbar);
    for (const { tool, label } of TOOLS) {
      const button = h("button", { type: "button", "data-tool": tool, title: `${label} (${keyHint(`tool.${tool}`)})` }, label) as HTMLButtonElement;
      button.disabled = this.readOnly && EDIT_TOOLS.has(tool);
      button.addEventListener("click", () => this.setTool(tool));
      this.toolbar.append(button);
    }
    const size = h("input", { type: "range", min: 1, max: 100, value: this.brushRadius, "aria-label": "Brush size", class: "brush-size" }) as HTMLInputElement;
    size.addEventListener("input", () => this.setBrush(Number(size.value)));
    const opacity = h("input", { type: "range", min: 0, max: 100, value: this.opacity * 100, "aria-label": "Mask opacity", class: "opacity" }) as HTMLInputElement;
    opacity.addEventListener("input", () => {
      this.opacity = Number(opacity.value) / 100;
      this.masksVisible = true;
      this.renderMask();
    });
    const accept = h("button", { type: "button", title: "Accept the model's mask (Enter)", class: "primary" }, "Accept") as HTMLButtonElement;
    accept.addEventListener("click", () => this.run("accept"));
    const clearButton = h("button", { type: "button", title: "Clear the label on this slice (Shift+Delete)" }, "Clear") as HTMLButtonElement;
    clearButton.addEventListener("click", () => this.run("clear-slice"));
    const helpButton = h("button", { type: "button", title: "Keyboard shortcuts (?)" }, "?");
    helpButton.addEventListener("click", () => this.run("help"));
    this.undoButton.addEventListener("click", () => this.run("undo"));
    this.redoButton.addEventListener("click", () => this.run("redo"));
    this.propagateButton.addEventListener("click", () => this.run("propagate"));
    this.cancelButton.addEventListener("click", () => this.cancelPropagation());
    for (const b of [accept, clearButton, this.propagateButton]) b.disabled = this.readOnly;
    this.propagateButton.hidden = this.depth <= 1;
    this.toolbar.append(
      h("label", { class: "inline" }, "Size ", size),
      accept,
      clearButton,
      this.undoButton,
      this.redoButton,
      this.propagateButton,
      h("label", { class: "inline" }, "Opacity ", opacity),
      helpButton,
    );
    this.setTool(this.readOnly ? "pan" : "box");
  }

  private setTool(tool: Tool): void {
    if (this.readOnly && EDIT_TOOLS.has(tool)) return;
    this.tool = tool;
    for (const b of this.toolbar.querySelectorAll<HTMLButtonElement>("[data-tool]")) b.classList.toggle("active", b.dataset.tool === tool);
    this.stage.dataset.tool = tool;
    this.requestDraw();
  }

  private setBrush(radius: number): void {
    this.brushRadius = clamp(radius, 1, 100);
    const input = this.toolbar.querySelector<HTMLInputElement>(".brush-size");
    if (input) input.value = String(this.brushRadius);
    this.requestDraw();
  }

  private renderLabels(): void {
    clear(this.labelList);
    if (!this.labels.length) this.labelList.append(h("p", { class: "muted" }, "This project has no labels yet."));
    this.labels.forEach((label, i) => {
      const eye = h("button", { type: "button", class: "eye", title: "Show / hide", "aria-pressed": !this.hiddenLabels.has(label.id) }, this.hiddenLabels.has(label.id) ? "◌" : "●");
      eye.addEventListener("click", (ev) => {
        ev.stopPropagation();
        if (this.hiddenLabels.has(label.id)) this.hiddenLabels.delete(label.id);
        else this.hiddenLabels.add(label.id);
        this.renderLabels();
        this.renderMask();
      });
      const row = h(
        "div",
        { class: `label-item${label.id === this.activeLabel?.id ? " active" : ""}`, role: "button", tabindex: 0, "data-label-id": label.id },
        h("span", { class: "swatch", style: `background:${label.color}` }),
        h("span", { class: "name" }, label.name),
        i < 9 ? h("kbd", {}, String(i + 1)) : null,
        eye,
      );
      row.addEventListener("click", () => this.selectLabel(label));
      this.labelList.append(row);
    });
  }

  private selectLabel(label: LabelInfo | undefined): void {
    if (!label) return;
    const previous = this.activeLabel;
    this.activeLabel = label;
    // The model's input window is per label: a label with another preset needs other embeddings.
    if (previous && previous.window_preset !== label.window_preset && this.socket?.isOpen) {
      this.socket
        .subscribe({ kind: "series", id: this.series.id }, { label_id: label.id })
        .then((reply) => this.onServerMessage(reply))
        .catch((error) => this.ctx.banner.error(error, "Switching label"));
    }
    if (this.candidate) this.candidate.labelId = label.id;
    this.renderLabels();
    this.renderMask();
  }

  private renderWindowPresets(raw?: RawSlice): void {
    clear(this.windowBox);
    if (this.channels === 3) {
      this.windowBox.append(h("p", { class: "muted" }, "Colour image: no window."));
      return;
    }
    for (const preset of presetsFor(this.series, raw ?? this.source.cached(this.slice))) {
      const b = h("button", { type: "button", class: preset.name === this.windowName ? "active" : "" }, `${prettyPreset(preset.name)} ${preset.level}/${preset.width}`);
      b.addEventListener("click", () => this.setWindow({ level: preset.level, width: preset.width }, preset.name));
      this.windowBox.append(b);
    }
    this.windowBox.append(h("div", { class: "muted window-now" }, describeWindow(this.window)));
  }

  private setWindow(window: DisplayWindow, name: string): void {
    this.window = window;
    this.windowName = name;
    this.renderImage();
    this.renderWindowPresets();
  }

  private renderSliceLabel(): void {
    const ready = this.ready.has(this.slice);
    this.sliceLabel.textContent = `Slice ${this.slice + 1} / ${this.depth}`;
    this.sliceLabel.append(h("span", { class: `embed ${ready ? "ready" : "pending"}`, title: ready ? "Embedding ready: prompts answer fast" : "Embedding not computed yet: the first prompt waits for it" }, ready ? " ● ready" : " ○ computing"));
  }

  private renderReadiness(): void {
    const ctx = this.readiness.getContext("2d");
    if (!ctx) return;
    const w = this.readiness.width;
    ctx.fillStyle = "#3a4150";
    ctx.fillRect(0, 0, w, 6);
    ctx.fillStyle = "#43a047";
    for (const z of this.ready) ctx.fillRect(Math.floor((z * w) / this.depth), 0, Math.max(1, Math.ceil(w / this.depth)), 6);
    ctx.fillStyle = "#fff";
    ctx.fillRect(Math.floor((this.slice * w) / this.depth), 0, Math.max(1, Math.ceil(w / this.depth)), 6);
    this.readiness.title = `${this.ready.size} of ${this.depth} slices have their embedding ready`;
    this.renderSliceLabel();
  }

  private renderPresence(): void {
    clear(this.presenceBox);
    const others = this.presence.filter((u) => u.username !== this.ctx.username);
    if (!others.length) this.presenceBox.append(h("p", { class: "muted" }, "Only you."));
    for (const u of others) {
      const b = h("button", { type: "button", class: "link-button", title: "Go to their slice" }, `${u.username}${u.slice_index !== null ? ` · slice ${u.slice_index + 1}` : ""}`);
      b.addEventListener("click", () => u.slice_index !== null && void this.showSlice(u.slice_index));
      this.presenceBox.append(h("div", { class: "presence-user" }, b));
    }
  }

  private renderCandidate(): void {
    clear(this.candidateBox);
    const c = this.candidate;
    if (this.promptPending) this.candidateBox.append(h("p", { class: "muted" }, this.ready.has(this.slice) ? "Segmenting…" : "Computing this slice's embedding, then segmenting…"));
    if (!c) {
      if (!this.promptPending) this.candidateBox.append(h("p", { class: "muted" }, this.readOnly ? "Read-only." : "Draw a box around a structure."));
      return;
    }
    const row = h("div", { class: "candidate-choices" });
    c.masks.forEach((m, i) => {
      const b = h("button", { type: "button", class: i === c.index ? "active" : "", title: "Tab cycles the candidates" }, `Mask ${i + 1} · IoU ${m.iou.toFixed(2)}`);
      b.addEventListener("click", () => {
        c.index = i;
        this.renderCandidate();
        this.renderMask();
      });
      row.append(b);
    });
    this.candidateBox.append(row, h("p", { class: "muted" }, "Enter accepts · Esc discards · points refine"));
  }

  private buildHelp(): HTMLElement {
    const close = h("button", { type: "button", class: "help-close" }, "Close");
    const el = h(
      "div",
      { class: "help", hidden: true, role: "dialog", "aria-label": "Keyboard shortcuts" },
      h("h2", {}, "Keyboard shortcuts"),
      h("table", {}, h("tbody", {}, ...SHORTCUTS.map((s) => h("tr", {}, h("th", {}, h("kbd", {}, s.keys)), h("td", {}, s.description))))),
      close,
    );
    close.addEventListener("click", () => (el.hidden = true));
    return el;
  }

  private hint(text: string): void {
    this.statusHint.textContent = text;
  }

  private onAutosave(state: AutosaveState): void {
    this.statusSave.textContent = describeAutosave(state);
    this.statusSave.className = `status-save ${state.state}`;
    if (state.state === "conflict") {
      const label = this.labels.find((l) => l.id === state.labelId);
      this.ctx.banner.show(state.message, "error", null, [
        { label: "Load theirs", run: () => void this.resolveConflict(state.labelId, false) },
        { label: `Keep mine on top`, run: () => void this.resolveConflict(state.labelId, true) },
      ]);
      this.hint(`Saving ${label?.name ?? "this label"} is paused until the conflict is resolved.`);
    }
    if (state.state === "error" && state.retryInMs === null) this.ctx.banner.show(state.message, "error");
  }

  private updateHistoryButtons(): void {
    this.undoButton.disabled = !this.history.canUndo;
    this.redoButton.disabled = !this.history.canRedo;
  }

  // --- input -------------------------------------------------------------------------------------------
  private bindInput(): void {
    new ResizeObserver(() => this.resize()).observe(this.stage);
    this.slider.addEventListener("input", () => void this.showSlice(Number(this.slider.value)));
    const target = this.promptCanvas;
    target.addEventListener("contextmenu", (ev) => ev.preventDefault());
    target.addEventListener("pointerdown", (ev) => this.onPointerDown(ev));
    target.addEventListener("pointermove", (ev) => this.onPointerMove(ev));
    target.addEventListener("pointerup", (ev) => this.onPointerUp(ev));
    target.addEventListener("pointercancel", (ev) => this.onPointerUp(ev));
    target.addEventListener("pointerleave", () => {
      this.pointer = null;
      this.requestDraw();
    });
    target.addEventListener("wheel", (ev) => this.onWheel(ev), { passive: false });
    window.addEventListener("keydown", (ev) => this.onKeyDown(ev));
    window.addEventListener("keyup", (ev) => {
      if (ev.key === " ") this.spaceHeld = false;
    });
  }

  private local(ev: MouseEvent): [number, number] {
    const rect = this.promptCanvas.getBoundingClientRect();
    return [ev.clientX - rect.left, ev.clientY - rect.top];
  }

  private imagePoint(ev: MouseEvent): Point {
    const [sx, sy] = this.local(ev);
    const [x, y] = this.viewport.toImage(sx, sy);
    return { x, y };
  }

  private onPointerDown(ev: PointerEvent): void {
    this.stage.focus();
    const [sx, sy] = this.local(ev);
    const p = this.imagePoint(ev);
    const base = { startX: sx, startY: sy, lastX: sx, lastY: sy };
    this.promptCanvas.setPointerCapture(ev.pointerId);
    if (ev.button === 2) {
      // The sensitivity comes from the slice's intensity range once per drag (a 2048² slice has 4 M values).
      const raw = this.source.cached(this.slice);
      const range = raw && raw.channels === 1 ? intensityRange(raw.values) : { min: 0, max: 1000 };
      this.drag = { kind: "window", ...base, startWindow: { ...this.window }, sensitivity: dragSensitivity(range) };
      return;
    }
    if (ev.button === 1 || this.spaceHeld || this.tool === "pan") {
      this.drag = { kind: "pan", ...base };
      return;
    }
    if (ev.button !== 0 || this.readOnly || !this.activeLabel) {
      if (!this.activeLabel && !this.readOnly) this.ctx.banner.show("This project has no labels: add one before drawing.", "warn");
      return;
    }
    switch (this.tool) {
      case "box":
        this.drag = { kind: "box", ...base, imageStart: p, imageLast: p };
        break;
      case "point-positive":
      case "point-negative":
        this.addPoint(p, this.tool === "point-positive" ? 1 : 0);
        break;
      case "brush":
      case "eraser": {
        this.acceptCandidate();
        const labelId = this.activeLabel.id;
        const mask = this.volume.get(labelId, this.slice);
        const value: 0 | 1 = this.tool === "brush" ? 1 : 0;
        const t0 = performance.now();
        const before = mask.slice();
        const dirty = stampDisc(mask, this.width, this.height, p.x, p.y, this.brushRadius, value);
        this.drag = { kind: "stroke", ...base, imageLast: p, before, dirty, labelId, slice: this.slice, value };
        this.renderMask(dirty);
        this.perf.brushFrameMs.push(performance.now() - t0);
        break;
      }
      case "fill": {
        this.acceptCandidate();
        const labelId = this.activeLabel.id;
        const mask = this.volume.get(labelId, this.slice);
        const before = mask.slice();
        const rect = floodFill(mask, this.width, this.height, p.x, p.y, 1);
        if (rect) this.commitEdit("Fill", "manual", [{ labelId, slice: this.slice, flipped: diffMasks(before, mask, this.width, rect) }], rect);
        break;
      }
      default:
        break;
    }
  }

  private onPointerMove(ev: PointerEvent): void {
    const p = this.imagePoint(ev);
    this.pointer = p;
    const d = this.drag;
    if (!d) {
      if (this.tool === "brush" || this.tool === "eraser") this.requestDraw();
      return;
    }
    const [sx, sy] = this.local(ev);
    if (d.kind === "window" && d.startWindow) {
      // In the browser on the cached raw intensities: no request, and the model's window is not touched.
      if (this.channels === 3) return;
      this.window = dragWindow(d.startWindow, sx - d.startX, sy - d.startY, d.sensitivity ?? 1);
      this.windowName = "";
      this.renderImage();
      const now = this.windowBox.querySelector(".window-now");
      if (now) now.textContent = describeWindow(this.window);
    } else if (d.kind === "pan") {
      this.viewport.panBy(sx - d.lastX, sy - d.lastY);
      this.requestDraw();
    } else if (d.kind === "box") {
      d.imageLast = p;
      this.requestDraw();
    } else if (d.kind === "stroke" && d.imageLast && d.labelId !== undefined && d.slice === this.slice) {
      const t0 = performance.now();
      const mask = this.volume.get(d.labelId, d.slice);
      const rect = strokeSegment(mask, this.width, this.height, d.imageLast, p, this.brushRadius, d.value!);
      d.dirty = unionRect(d.dirty ?? null, rect);
      d.imageLast = p;
      this.renderMask(rect);
      this.perf.brushFrameMs.push(performance.now() - t0);
    }
    d.lastX = sx;
    d.lastY = sy;
  }

  private onPointerUp(ev: PointerEvent): void {
    const d = this.drag;
    this.drag = null;
    if (this.promptCanvas.hasPointerCapture(ev.pointerId)) this.promptCanvas.releasePointerCapture(ev.pointerId);
    if (!d) return;
    if (d.kind === "window") this.renderWindowPresets();
    if (d.kind === "box" && d.imageStart && d.imageLast) {
      const x0 = clamp(Math.min(d.imageStart.x, d.imageLast.x), 0, this.width);
      const y0 = clamp(Math.min(d.imageStart.y, d.imageLast.y), 0, this.height);
      const x1 = clamp(Math.max(d.imageStart.x, d.imageLast.x), 0, this.width);
      const y1 = clamp(Math.max(d.imageStart.y, d.imageLast.y), 0, this.height);
      if (x1 - x0 < 2 || y1 - y0 < 2) {
        this.requestDraw();
        return;
      }
      this.candidate = null;
      this.prompt = { slice: this.slice, box: [Math.round(x0), Math.round(y0), Math.round(x1), Math.round(y1)], points: [] };
      void this.sendPrompt(performance.now());
    }
    if (d.kind === "stroke" && d.before && d.labelId !== undefined && d.slice !== undefined) {
      const mask = this.volume.get(d.labelId, d.slice);
      const flipped = diffMasks(d.before, mask, this.width, d.dirty ?? null);
      this.commitEdit(d.value ? "Brush" : "Eraser", "manual", [{ labelId: d.labelId, slice: d.slice, flipped }], null, false);
    }
  }

  private onWheel(ev: WheelEvent): void {
    ev.preventDefault();
    if (ev.ctrlKey || ev.metaKey) {
      const [sx, sy] = this.local(ev);
      this.viewport.zoomAt(sx, sy, wheelZoomFactor(ev.deltaY));
      this.requestDraw();
    } else if (Math.abs(ev.deltaY) > 0) {
      void this.showSlice(this.slice + Math.sign(ev.deltaY));
    }
  }

  private onKeyDown(ev: KeyboardEvent): void {
    const target = ev.target as HTMLElement | null;
    if (target && (target.tagName === "INPUT" && (target as HTMLInputElement).type !== "range" || target.tagName === "TEXTAREA")) return;
    if (ev.key === " ") {
      this.spaceHeld = true;
      ev.preventDefault();
      return;
    }
    const action = actionForKey(ev);
    if (!action) return;
    ev.preventDefault();
    this.run(action);
  }

  /** Carry out an action from a key or a button. */
  run(action: Action): void {
    if (action.startsWith("label.")) {
      this.selectLabel(this.labels[Number(action.slice(6)) - 1]);
      return;
    }
    switch (action) {
      case "tool.box": return this.setTool("box");
      case "tool.point-positive": return this.setTool("point-positive");
      case "tool.point-negative": return this.setTool("point-negative");
      case "tool.brush": return this.setTool("brush");
      case "tool.eraser": return this.setTool("eraser");
      case "tool.fill": return this.setTool("fill");
      case "tool.pan": return this.setTool("pan");
      case "brush.smaller": return this.setBrush(Math.max(1, Math.round(this.brushRadius / 1.25)));
      case "brush.larger": return this.setBrush(Math.round(this.brushRadius * 1.25) + 1);
      case "accept": this.acceptCandidate(); return;
      case "discard": this.discardCandidate(); return;
      case "next-mask":
        if (this.candidate) {
          this.candidate.index = (this.candidate.index + 1) % this.candidate.masks.length;
          this.renderCandidate();
          this.renderMask();
        }
        return;
      case "clear-slice": return this.clearSlice();
      case "slice.next": void this.showSlice(this.slice + 1); return;
      case "slice.previous": void this.showSlice(this.slice - 1); return;
      case "slice.next10": void this.showSlice(this.slice + 10); return;
      case "slice.previous10": void this.showSlice(this.slice - 10); return;
      case "undo": return this.undoRedo("undo");
      case "redo": return this.undoRedo("redo");
      case "save": void this.autosave.flush(); return;
      case "window.next-preset": {
        const presets = presetsFor(this.series, this.source.cached(this.slice));
        if (!presets.length) return;
        const i = presets.findIndex((p) => p.name === this.windowName);
        const next = presets[(i + 1) % presets.length]!;
        return this.setWindow({ level: next.level, width: next.width }, next.name);
      }
      case "zoom.fit": this.viewport.fit(); this.requestDraw(); return;
      case "zoom.in":
      case "zoom.out": {
        const s = this.viewport.screen;
        this.viewport.zoomAt(s.width / 2, s.height / 2, action === "zoom.in" ? 1.25 : 0.8);
        this.requestDraw();
        return;
      }
      case "opacity.toggle": this.masksVisible = !this.masksVisible; this.renderMask(); return;
      case "propagate": void this.propagate(); return;
      case "help": this.help.hidden = !this.help.hidden; return;
      default: return;
    }
  }

  // --- editing -----------------------------------------------------------------------------------------
  /** Record an applied edit in the history, mark it for autosave and redraw. */
  private commitEdit(description: string, source: EditSource, changes: SliceChange[], rect: Rect | null, redraw = true): void {
    if (!this.history.record({ description, source, changes })) return;
    for (const c of changes) this.autosave.markDirty(c.labelId, c.slice, source);
    this.updateHistoryButtons();
    if (redraw) this.renderMask(rect);
  }

  private undoRedo(which: "undo" | "redo"): void {
    const touched = new Set<number>();
    const apply = (c: SliceChange) => {
      applyFlips(this.volume.get(c.labelId, c.slice), c.flipped);
      touched.add(c.slice);
    };
    const entry = which === "undo" ? this.history.undo(apply) : this.history.redo(apply);
    if (!entry) return;
    for (const c of entry.changes) this.autosave.markDirty(c.labelId, c.slice, entry.source);
    this.updateHistoryButtons();
    this.hint(`${which === "undo" ? "Undid" : "Redid"}: ${entry.description}`);
    if (touched.has(this.slice)) this.renderMask();
    else if (touched.size) void this.showSlice(nearestSlice([...touched], this.slice));
  }

  private clearSlice(): void {
    if (this.readOnly || !this.activeLabel) return;
    const mask = this.volume.peek(this.activeLabel.id, this.slice);
    if (!mask) return;
    const before = mask.slice();
    mask.fill(0);
    this.commitEdit(`Clear ${this.activeLabel.name}`, "manual", [{ labelId: this.activeLabel.id, slice: this.slice, flipped: diffMasks(before, mask) }], null);
  }

  private addPoint(p: Point, label: 0 | 1): void {
    if (!this.viewport.contains(p.x, p.y)) return;
    if (!this.prompt || this.prompt.slice !== this.slice) this.prompt = { slice: this.slice, box: null, points: [] };
    this.prompt.points.push({ x: Math.round(p.x), y: Math.round(p.y), label });
    void this.sendPrompt(performance.now());
  }

  private async sendPrompt(t0: number): Promise<void> {
    const prompt = this.prompt;
    if (!prompt || !this.activeLabel) return;
    if (!this.socket.isOpen) {
      this.ctx.banner.show("Not connected: the prompt will work again once the connection is back.", "warn");
      return;
    }
    this.promptPending = true;
    this.renderCandidate();
    this.requestDraw();
    const refining = this.candidate !== null && this.candidate.slice === prompt.slice;
    try {
      const result: PromptResult = await this.socket.prompt({
        series_id: this.series.id,
        slice_index: prompt.slice,
        ...(prompt.box ? { box: prompt.box } : {}),
        ...(prompt.points.length
          ? { points: prompt.points.map((q) => [q.x, q.y] as [number, number]), point_labels: prompt.points.map((q) => q.label) }
          : {}),
        ...(refining ? { mask_input: "previous" as const } : {}),
        multimask: true,
        label_id: this.activeLabel.id,
      });
      this.promptPending = false;
      if (result.slice_index !== this.slice || this.prompt !== prompt) return;
      const masks = result.masks.map((m) => ({ mask: decode(m.rle, [this.height, this.width]), iou: m.iou }));
      if (!masks.length) {
        this.ctx.banner.show("The model found nothing there. Try a tighter box.", "warn");
        this.renderCandidate();
        return;
      }
      const key = `${this.activeLabel.id}:${prompt.slice}`;
      if (!this.firstPredictions.has(key)) this.firstPredictions.set(key, { rle: result.masks[0]!.rle, iou: result.masks[0]!.iou, model: result.model });
      this.candidate = { slice: prompt.slice, labelId: this.activeLabel.id, masks, index: 0, model: result.model };
      this.renderCandidate();
      this.renderMask();
      requestAnimationFrame(() => this.perf.boxToMaskMs.push(performance.now() - t0));
      this.perf.promptServerMs.push(result.timings.total_ms);
      this.hint(`Model ${result.model}: decoded in ${Math.round(result.timings.decode_ms)} ms, ${Math.round(result.timings.total_ms)} ms in all.`);
    } catch (error) {
      this.promptPending = false;
      this.renderCandidate();
      this.ctx.banner.error(error, "Segmenting");
    }
  }

  private acceptCandidate(): void {
    const c = this.candidate;
    if (!c) return;
    const mask = this.volume.get(c.labelId, c.slice);
    const before = mask.slice();
    const chosen = c.masks[c.index]!.mask;
    for (let i = 0; i < mask.length; i++) if (chosen[i]) mask[i] = 1;
    this.candidate = null;
    this.prompt = null;
    this.commitEdit("Accept model mask", "model", [{ labelId: c.labelId, slice: c.slice, flipped: diffMasks(before, mask) }], null);
    this.renderCandidate();
    this.renderMask();
  }

  private discardCandidate(): void {
    this.candidate = null;
    this.prompt = null;
    this.renderCandidate();
    this.renderMask();
  }

  private async saveBatch(labelId: number, base: number | null, slices: number[], source: "model" | "manual" | "corrected"): Promise<RevisionSummary> {
    const body: Record<string, unknown> = {
      base_revision: base,
      source,
      slices: Object.fromEntries(slices.map((z) => [z, encode(this.volume.get(labelId, z), this.height, this.width)])),
    };
    const first = slices.map((z) => [z, this.firstPredictions.get(`${labelId}:${z}`)] as const).filter(([, f]) => f);
    if (first.length) {
      body.first_predictions = Object.fromEntries(first.map(([z, f]) => [z, f!.rle]));
      body.predicted_iou = Object.fromEntries(first.map(([z, f]) => [z, f!.iou]));
      body.model_version = first[0]![1]!.model;
    }
    const headers: Record<string, string> = this.socket.socketId ? { [SOCKET_HEADER]: this.socket.socketId } : {};
    const reply = await this.api.post<{ revision: RevisionSummary }>(endpoints.revisions(this.series.id, labelId), body, headers);
    for (const [z] of first) this.firstPredictions.delete(`${labelId}:${z}`);
    return reply.revision;
  }

  // --- 3D propagation ----------------------------------------------------------------------------------
  /**
   * Propagate the active label's mask on this slice through the neighbouring slices. The slices arrive one
   * by one and are painted as model masks straight away (they are saved like accepted masks); the whole run
   * is one undo step, recorded when the job ends. Cancel stops applying at once.
   */
  private async propagate(): Promise<void> {
    if (this.readOnly || !this.activeLabel || this.depth <= 1) return;
    if (this.startingJob || (this.propagation && !this.propagation.ended)) {
      this.ctx.banner.show("A propagation is already running; cancel it first.", "warn");
      return;
    }
    this.acceptCandidate();
    const labelId = this.activeLabel.id;
    const mask = this.volume.peek(labelId, this.slice);
    if (!mask || !mask.some((v) => v)) {
      this.ctx.banner.show(`Draw or accept a ${this.activeLabel.name} mask on this slice first; propagation starts from it.`, "warn");
      return;
    }
    this.startingJob = true;
    this.renderJob();
    try {
      const reply = await this.socket.request<Extract<ServerMessage, { type: "job.created" }>>({
        type: "propagate",
        series_id: this.series.id,
        slice_index: this.slice,
        mask: encode(mask, this.height, this.width),
        label_id: labelId,
        direction: "both",
      });
      this.propagation = new PropagationRun(reply.job.id, labelId);
      this.startingJob = false;
      this.onJobProgress(this.propagation, reply.job);
      for (const message of this.early.take(reply.job.id)) this.onServerMessage(message);
    } catch (error) {
      this.startingJob = false;
      this.early.take(-1);
      this.ctx.banner.error(error, "Starting the propagation");
    }
    this.renderJob();
  }

  private onPropagatedSlice(run: PropagationRun, message: ServerMessageOf<"propagate.slice">): void {
    const { slice_index: z, rle } = message;
    if (z < 0 || z >= this.depth || !run.admit()) {
      this.renderJob();
      return;
    }
    const mask = this.volume.get(run.labelId, z);
    const before = mask.slice();
    try {
      decode(rle, [this.height, this.width], mask, 1);
    } catch (error) {
      mask.set(before);
      this.ctx.banner.error(error, `Propagated slice ${z + 1}`);
      return;
    }
    const flipped = diffMasks(before, mask);
    if (flipped.length) {
      run.record(z, flipped);
      this.autosave.markDirty(run.labelId, z, "model");
    }
    // The model's first prediction on this slice goes with the save, for the active-learning loop.
    const key = `${run.labelId}:${z}`;
    if (message.model && !this.firstPredictions.has(key)) {
      this.firstPredictions.set(key, { rle, iou: message.iou, model: message.model });
    }
    if (z === this.slice) this.renderMask();
    this.renderJob();
  }

  private onJobProgress(run: PropagationRun, state: JobState): void {
    const entry = run.update(state);
    if (entry) {
      this.history.record(entry);
      this.updateHistoryButtons();
      const n = run.slices.length;
      if (run.phase === "failed") this.ctx.banner.show(run.describe(), "error");
      else this.ctx.banner.show(run.phase === "done" ? `Propagated to ${n} slice${n === 1 ? "" : "s"}.` : run.describe(), "ok");
    }
    this.renderJob();
  }

  private cancelPropagation(): void {
    const run = this.propagation;
    if (!run || run.phase !== "running") return;
    run.cancel(); // from now on nothing the worker still sends is applied
    this.renderJob();
    this.socket.request<Extract<ServerMessage, { type: "job.progress" }>>({ type: "cancel_job", job_id: run.jobId }).then(
      (reply) => this.onJobProgress(run, reply.job),
      (error) => this.ctx.banner.error(error, "Cancelling"),
    );
  }

  private renderJob(): void {
    clear(this.jobBox);
    const run = this.propagation;
    const busy = this.startingJob || (run !== null && !run.ended);
    this.propagateButton.disabled = this.readOnly || busy;
    if (this.startingJob) {
      this.jobBox.append(h("div", { class: "job-line" }, "Starting the propagation…"));
      return;
    }
    if (!run) return;
    const pct = Math.round(100 * run.progress);
    this.jobBox.dataset.state = run.phase;
    this.jobBox.append(
      h(
        "div",
        { class: `progress job-${run.phase}`, title: run.message },
        h("div", { class: "progress-fill", style: `width:${pct}%` }),
        h("span", { class: "job-state" }, run.phase === "running" ? `Propagating… ${pct}%` : prettyPreset(run.phase)),
      ),
      h("div", { class: "job-line" }, run.describe()),
    );
    // One button element for the whole run: re-rendering on every slice must not swap it under the mouse.
    if (run.phase === "running") this.jobBox.append(this.cancelButton);
  }

  private scheduleView(): void {
    if (this.viewTimer) return;
    // At most ~10 view messages a second while scrolling: each re-prioritises embeddings on the server.
    this.viewTimer = setTimeout(() => {
      this.viewTimer = null;
      this.sendView();
    }, 100);
  }

  private sendView(): void {
    this.socket?.send({ type: "view", series_id: this.series.id, slice_index: this.slice });
  }
}

export function mount(ctx: PageContext): void {
  const viewer = new Viewer(ctx);
  viewer.start().catch((error) => ctx.banner.error(error, "Opening the series"));
}
