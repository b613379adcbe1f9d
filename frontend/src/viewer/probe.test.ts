import { describe, expect, it } from "vitest";
import { encode } from "../rle";
import { LIVER, LUNG, maskWith, viewerState } from "../testing/viewer";
import { ViewerBus } from "./bus";
import { countOpaque, countSet, imageToClient, installProbe, recordPerf, type ViewerProbe, viewerProbe } from "./probe";
import { PropagationRun } from "./propagation";
import { Viewport } from "./viewport";

describe("probe", () => {
  it("maps an image point to client coordinates through the viewport and the canvas position", () => {
    const viewport = new Viewport({ width: 512, height: 512 }, { width: 1024, height: 768 });
    // fit: scale 1.5, image centred horizontally (offset (1024 - 768) / 2 = 128)
    expect(imageToClient(viewport, { left: 10, top: 50 }, 0, 0)).toEqual([138, 50]);
    expect(imageToClient(viewport, { left: 10, top: 50 }, 512, 512)).toEqual([10 + 128 + 768, 50 + 768]);
    viewport.zoomAt(0, 0, 2);
    const [x, y] = imageToClient(viewport, { left: 0, top: 0 }, 100, 20);
    expect(viewport.toImage(x, y)).toEqual([100, 20]);
  });

  it("counts the painted pixels of an overlay and the set pixels of a mask", () => {
    const rgba = new Uint8ClampedArray([255, 0, 0, 128, 9, 9, 9, 0, 0, 0, 0, 1]);
    expect(countOpaque(rgba)).toBe(2);
    expect(countSet(new Uint8Array([0, 1, 1, 0, 1]))).toBe(3);
  });
});

describe("the probe's timings, from the bus", () => {
  it("times a prompt from its command to the frame after its answer is drawn, and each brush step", () => {
    let clock = 0;
    const frames: (() => void)[] = [];
    const bus = new ViewerBus(() => {
      clock += 2; // each command takes 2 ms
    }, () => clock);
    const perf = recordPerf(bus, (run) => void frames.push(run));
    bus.dispatch({ type: "stroke.begin", x: 1, y: 1, value: 1 });
    bus.dispatch({ type: "stroke.extend", x: 2, y: 1 });
    bus.dispatch({ type: "stroke.end" });
    bus.dispatch({ type: "action", action: "undo" });
    expect(perf.brushFrameMs).toEqual([2, 2]);
    clock = 150;
    bus.emit({ type: "prompt.answered", startedAt: 100, slice: 0, labelId: 1, model: "m", serverMs: 31 });
    expect(perf.promptServerMs).toEqual([31]);
    expect(perf.boxToMaskMs).toEqual([]); // not until the frame is drawn
    clock = 166;
    frames.shift()!();
    expect(perf.boxToMaskMs).toEqual([66]);
  });
});

describe("the probe's view of the viewer", () => {
  it("reads masks, the candidate, readiness, the window and the propagation from the state", () => {
    const state = viewerState();
    state.volume.set(LIVER.id, 2, maskWith([[1, 1], [2, 1]]));
    state.ready = new Set([3, 1, 2]);
    state.embeddingEvents = 4;
    state.window = { level: -600, width: 1500 };
    const probe = viewerProbe({
      state,
      perf: { boxToMaskMs: [], promptServerMs: [], brushFrameMs: [] },
      imageToScreen: (x, y) => [x * 10, y * 10],
      overlayPixels: () => 7,
      screenMaskPixels: () => 70,
      hasUnsaved: () => true,
    });
    expect(probe.mask()).toEqual({ slice: 2, labelId: LIVER.id, pixels: 2, rle: encode(maskWith([[1, 1], [2, 1]]), 8, 10) });
    expect(probe.mask(4, LUNG.id)).toMatchObject({ slice: 4, labelId: LUNG.id, pixels: 0 });
    expect(probe.candidate()).toBeNull();
    state.candidate = { slice: 2, labelId: LUNG.id, masks: [{ mask: maskWith([[5, 5]]), iou: 0.8 }], index: 0, model: "m" };
    expect(probe.candidate()).toMatchObject({ slice: 2, labelId: LUNG.id, pixels: 1, iou: 0.8 });
    expect([probe.slice(), probe.activeLabelId(), probe.embeddingReady(), probe.readySlices(), probe.embeddingEvents()]).toEqual([2, LIVER.id, true, [1, 2, 3], 4]);
    expect(probe.displayWindow()).toEqual({ level: -600, width: 1500 });
    expect([probe.overlayPixels(), probe.screenMaskPixels(), probe.hasUnsaved(), probe.imageToScreen(1, 2)]).toEqual([7, 70, true, [10, 20]]);
    expect(probe.promptPending()).toBe(false);
    expect(probe.propagation()).toBeNull();
    state.propagation = new PropagationRun(9, LIVER.id);
    expect(probe.propagation()).toEqual({ jobId: 9, phase: "running", received: 0, slices: [], dropped: 0, lateEvents: 0, text: "Propagating… 0% (0 slices so far)" });
  });

  it("is published as window.__delineate with the viewer beside it", () => {
    const target: { __delineate?: unknown } = {};
    const probe = { slice: () => 3 } as unknown as ViewerProbe;
    installProbe(target, probe, "the viewer");
    expect(target.__delineate).toMatchObject({ viewer: "the viewer" });
    expect((target.__delineate as ViewerProbe).slice()).toBe(3);
  });
});
