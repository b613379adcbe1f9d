import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { LIVER, recordingNotifier, recordingView, viewerState } from "../testing/viewer";
import type { RawSlice } from "./sliceSource";
import { presetsFor, Slices } from "./slices";
import type { ViewerState } from "./state";

function raw(index: number, values: number[] = Array.from({ length: 80 }, (_, i) => i)): RawSlice {
  return { index, width: 10, height: 8, channels: 1, values: Int16Array.from(values) };
}

/** A slice cache whose loads wait until the test lets them through (or fail them). */
function fakeSource() {
  const cache = new Map<number, RawSlice>();
  const loading = new Map<number, { resolve: (r: RawSlice) => void; reject: (e: Error) => void }>();
  const prefetched: number[][] = [];
  return {
    cache,
    prefetched,
    get: (z: number) =>
      cache.has(z)
        ? Promise.resolve(cache.get(z)!)
        : new Promise<RawSlice>((resolve, reject) =>
            loading.set(z, {
              resolve: (r) => {
                cache.set(z, r);
                resolve(r);
              },
              reject,
            }),
          ),
    cached: (z: number) => cache.get(z),
    prefetch: (zs: number[]) => void prefetched.push(zs),
    load: (z: number, r = raw(z)) => loading.get(z)!.resolve(r),
    fail: (z: number, e: Error) => loading.get(z)!.reject(e),
  };
}

function setup(state: ViewerState = viewerState()) {
  const view = recordingView();
  const notify = recordingNotifier();
  const source = fakeSource();
  const viewed: number[] = [];
  let discarded = 0;
  const shownAt: number[] = [];
  const shown = () => void shownAt.push(state.slice);
  const slices = new Slices({ state, source, view, notify, discardCandidate: () => void discarded++, shown, sendView: (z) => void viewed.push(z) });
  return { state, view, notify, source, viewed, slices, discarded: () => discarded, shownAt };
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe("going through slices", () => {
  it("shows a slice at once, draws its image when loaded, and prefetches the neighbours", async () => {
    const { state, view, source, slices } = setup();
    const shown = slices.show(3);
    expect(state.slice).toBe(3);
    // the small views of the other planes follow the crosshair, which moved with the slice
    expect(view.calls).toEqual(["slices", "mask", "crosshair"]);
    expect(state.cursor.z).toBe(3);
    source.load(3);
    await shown;
    expect(view.calls).toEqual(["slices", "mask", "crosshair", "windowPresets", "image"]);
    expect(source.prefetched).toEqual([[4, 2, 1]]); // 5 is past the last slice
  });

  it("tells the panels about the current slice (the review's agreement) each time another slice is shown", async () => {
    const { source, slices, shownAt } = setup();
    source.cache.set(1, raw(1));
    source.cache.set(4, raw(4));
    await slices.show(1);
    await slices.show(99);
    expect(shownAt).toEqual([1, 4]);
  });

  it("clamps to the series and drops a candidate made on the slice left", async () => {
    const { state, source, slices, discarded } = setup();
    source.cache.set(0, raw(0));
    source.cache.set(4, raw(4));
    state.candidate = { slice: 2, labelId: LIVER.id, masks: [], index: 0, model: "m" };
    await slices.show(-5);
    expect(state.slice).toBe(0);
    expect(discarded()).toBe(1);
    await slices.show(99.4);
    expect(state.slice).toBe(4);
  });

  it("does not draw a slice scrolled past before it loaded", async () => {
    const { view, source, slices } = setup();
    const first = slices.show(3);
    const second = slices.show(4);
    source.load(3);
    await first;
    expect(view.calls).not.toContain("image");
    source.load(4);
    await second;
    expect(view.calls.filter((c) => c === "image")).toHaveLength(1);
  });

  it("reports a slice that failed to load, unless the user has moved on", async () => {
    const { notify, source, slices } = setup();
    const shown = slices.show(3);
    source.fail(3, new Error("gone"));
    await shown;
    expect(notify.errors).toEqual(["Loading slice 4: gone"]);
    const left = slices.show(1);
    void slices.show(0);
    source.fail(1, new Error("gone"));
    await left;
    expect(notify.errors).toHaveLength(1);
  });

  it("tells the server where the user looks at most every 100 ms while scrolling", async () => {
    const { viewed, source, slices } = setup();
    for (const z of [0, 1, 2, 3, 4]) source.cache.set(z, raw(z));
    await slices.show(1);
    await slices.show(2);
    await slices.show(3);
    expect(viewed).toEqual([]);
    await vi.advanceTimersByTimeAsync(100);
    expect(viewed).toEqual([3]);
    await slices.show(4);
    await vi.advanceTimersByTimeAsync(100);
    expect(viewed).toEqual([3, 4]);
  });
});

describe("the display window", () => {
  it("starts from the series' default preset, or a window over the slice's range when there is none", async () => {
    const ct = setup();
    ct.source.cache.set(2, raw(2));
    await ct.slices.show(2);
    expect([ct.state.window, ct.state.windowName]).toEqual([{ level: 40, width: 400 }, "soft_tissue"]);
    const lung = setup(viewerState({ series: { default_window: "lung" } }));
    lung.source.cache.set(2, raw(2));
    await lung.slices.show(2);
    expect(lung.state.windowName).toBe("lung");
    const other = setup(viewerState({ series: { modality: "XA" } }));
    other.source.cache.set(2, raw(2));
    await other.slices.show(2);
    expect(other.state.windowName).toBe("auto");
  });

  it("cycles the presets with W and keeps a dragged window off every preset", async () => {
    const { state, source, slices } = setup();
    source.cache.set(2, raw(2));
    await slices.show(2);
    slices.nextPreset();
    expect([state.windowName, state.window]).toEqual(["lung", { level: -600, width: 1500 }]);
    slices.dragWindow({ level: 10, width: 20 });
    expect([state.windowName, state.window]).toEqual(["", { level: 10, width: 20 }]);
    slices.nextPreset();
    expect(state.windowName).toBe("soft_tissue");
  });

  it("redraws only the readout while dragging, and the preset buttons when the drag ends", () => {
    const { view, slices } = setup();
    slices.dragWindow({ level: 10, width: 20 });
    expect(view.calls).toEqual(["image", "windowReadout"]);
    slices.endWindowDrag();
    expect(view.calls.at(-1)).toBe("windowPresets");
  });
});

describe("window presets of a series", () => {
  it("are the server's when it lists any, else CT's four, else one from the slice's intensities", () => {
    const mine = [{ name: "mine", level: 1, width: 2 }];
    expect(presetsFor({ window_presets: mine, modality: "CT" }, undefined)).toBe(mine);
    expect(presetsFor({ window_presets: [], modality: "CT" }, undefined).map((p) => p.name)).toEqual(["soft_tissue", "lung", "bone", "brain"]);
    expect(presetsFor({ window_presets: [], modality: "MR" }, undefined)).toEqual([]);
    const [auto] = presetsFor({ window_presets: [], modality: "MR" }, raw(0));
    expect(auto!.name).toBe("auto");
    expect(auto!.width).toBeGreaterThan(0);
  });
});
