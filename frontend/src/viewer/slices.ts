/**
 * Which slice is shown and how: going to a slice (its raw intensities from the slice cache, neighbours
 * prefetched), the display window (presets, right-drag), and the `view` messages that tell the server
 * where the user looks so it embeds those slices first.
 */

import type { SeriesInfo, WindowPresetInfo } from "../endpoints";
import { withIndex } from "./planes";
import type { RawSlice, SliceSource } from "./sliceSource";
import { currentGrid, planeOf, type ViewerState } from "./state";
import { clamp } from "./viewport";
import type { Notifier, ViewerView } from "./view";
import { CT_PRESETS, intensityRange, percentileWindow, type DisplayWindow } from "./windowing";

/** The display-window presets a series offers: the server's, else CT's, else one from the slice's intensities. */
export function presetsFor(series: Pick<SeriesInfo, "window_presets" | "modality">, slice: RawSlice | undefined): WindowPresetInfo[] {
  if (series.window_presets?.length) return series.window_presets;
  if (series.modality === "CT") return CT_PRESETS.map((p) => ({ name: p.key, level: p.level, width: p.width }));
  if (slice) return [{ name: "auto", ...percentileWindow(slice.values) }];
  return [];
}

export interface SlicesDeps {
  state: ViewerState;
  source: Pick<SliceSource, "get" | "cached" | "prefetch">;
  view: Pick<ViewerView, "slices" | "mask" | "image" | "windowPresets" | "windowReadout" | "crosshair">;
  notify: Notifier;
  /** the slice changed: drop a candidate made on another slice */
  discardCandidate(): void;
  /** the slice shown changed (panels about the current slice, such as the review's agreement, redraw) */
  shown?(): void;
  /** tell the server which slice is looked at */
  sendView(slice: number): void;
  /** At most ~10 view messages a second while scrolling: each re-prioritises embeddings on the server. */
  viewIntervalMs?: number;
}

export class Slices {
  private viewTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly deps: SlicesDeps) {}

  /** The presets for the current slice (or `raw`). */
  presets(raw?: RawSlice): WindowPresetInfo[] {
    const { state, source } = this.deps;
    return presetsFor(state.series, raw ?? source.cached(state.slice));
  }

  current(): RawSlice | undefined {
    return this.deps.source.cached(this.deps.state.slice);
  }

  /** Show slice `index` of the plane shown (clamped to it). Resolves once its image is drawn or failed to load. */
  async show(index: number): Promise<void> {
    const { state, view, source } = this.deps;
    const depth = currentGrid(state).depth;
    const z = clamp(Math.round(index), 0, depth - 1);
    const changed = z !== state.slice;
    state.slice = z;
    state.cursor = withIndex(state.plane, state.cursor, z);
    const candidate = state.candidate;
    if (candidate && (planeOf(candidate) !== state.plane || (changed && candidate.slice !== z))) this.deps.discardCandidate();
    view.slices();
    view.mask();
    view.crosshair();
    this.deps.shown?.();
    this.scheduleView();
    try {
      const raw = await source.get(z);
      if (state.slice !== z) return; // scrolled on meanwhile
      if (!state.windowName) this.pickDefaultWindow(raw);
      view.image(raw);
      source.prefetch([z + 1, z - 1, z + 2, z - 2].filter((i) => i >= 0 && i < depth));
    } catch (error) {
      if (state.slice === z) this.deps.notify.error(error, `Loading slice ${z + 1}`);
    }
  }

  setWindow(window: DisplayWindow, name: string): void {
    const { state, view } = this.deps;
    state.window = window;
    state.windowName = name;
    view.image(this.current());
    view.windowPresets();
  }

  /** W: the next preset after the current one. */
  nextPreset(): void {
    const presets = this.presets();
    if (!presets.length) return;
    const i = presets.findIndex((p) => p.name === this.deps.state.windowName);
    const next = presets[(i + 1) % presets.length]!;
    this.setWindow({ level: next.level, width: next.width }, next.name);
  }

  /** A right-drag moved the window: redraw the image and the readout only (the buttons at the end). */
  dragWindow(window: DisplayWindow): void {
    const { state, view } = this.deps;
    state.window = window;
    state.windowName = "";
    view.image(this.current());
    view.windowReadout();
  }

  endWindowDrag(): void {
    this.deps.view.windowPresets();
  }

  /** Tell the server where the user looks now (also after a reconnect). */
  sendView(): void {
    this.deps.sendView(this.deps.state.slice);
  }

  private scheduleView(): void {
    if (this.viewTimer) return;
    this.viewTimer = setTimeout(() => {
      this.viewTimer = null;
      this.sendView();
    }, this.deps.viewIntervalMs ?? 100);
  }

  private pickDefaultWindow(raw: RawSlice): void {
    const { state } = this.deps;
    const presets = presetsFor(state.series, raw);
    const preset = presets.find((p) => p.name === state.series.default_window) ?? presets[0];
    if (preset) {
      state.window = { level: preset.level, width: preset.width };
      state.windowName = preset.name;
    } else {
      const range = intensityRange(raw.values);
      state.window = { level: (range.min + range.max) / 2, width: Math.max(1, range.max - range.min) };
      state.windowName = "range";
    }
    this.deps.view.windowPresets(raw);
  }
}
