import { describe, expect, it } from "vitest";
import { Api } from "../api";
import { LIVER, LUNG, TUMOUR, maskWith, viewerState } from "../testing/viewer";
import { annotatedSlices, annotationRects, Annotations, nextAnnotated, taskLabels } from "./annotations";
import { annotatedTitle, sliceLabel } from "./panels/sliceBar";

function annotated() {
  const state = viewerState({ depth: 30 });
  state.volume.set(LIVER.id, 4, maskWith([[3, 2]]));
  state.volume.set(LIVER.id, 17, maskWith([[9, 7], [1, 2]]));
  state.volume.set(LUNG.id, 11, maskWith([[0, 0]]));
  state.volume.get(TUMOUR.id, 20); // drawn on, then cleared: empty
  return { state, annotations: new Annotations(state) };
}

describe("where the masks are", () => {
  it("lists each plane's slices holding a label's mask from one pass over the axial slices", () => {
    const { state } = annotated();
    expect(annotatedSlices(state.volume, LIVER.id)).toEqual({ axial: [4, 17], coronal: [2, 7], sagittal: [1, 3, 9] });
    expect(annotatedSlices(state.volume, TUMOUR.id)).toEqual({ axial: [], coronal: [], sagittal: [] });
  });

  it("marks visible labels only, in their colours, and recounts after an invalidate", () => {
    const { state, annotations } = annotated();
    expect(annotations.marks("axial")).toEqual([
      { labelId: LIVER.id, color: "#ff0000", slices: [4, 17] },
      { labelId: LUNG.id, color: "#00ff00", slices: [11] },
      { labelId: TUMOUR.id, color: "#0000ff", slices: [] },
    ]);
    state.hiddenLabels.add(LUNG.id);
    expect(annotations.marks("axial").map((m) => m.labelId)).toEqual([LIVER.id, TUMOUR.id]);
    state.volume.set(TUMOUR.id, 25, maskWith([[5, 5]]));
    expect(annotations.marks("axial").at(-1)!.slices).toEqual([]); // cached until told
    annotations.invalidate();
    expect(annotations.marks("axial").at(-1)!.slices).toEqual([25]);
  });

  it("jumps to the nearest annotated slice either way, and says null past the last one", () => {
    const { annotations } = annotated();
    expect(annotations.next("axial", 0, 1)).toBe(4);
    expect(annotations.next("axial", 4, 1)).toBe(11);
    expect(annotations.next("axial", 11, 1)).toBe(17);
    expect(annotations.next("axial", 17, 1)).toBeNull();
    expect(annotations.next("axial", 17, -1)).toBe(11);
    expect(annotations.next("axial", 4, -1)).toBeNull();
    // Coronal slices are rows y: Liver's pixels are on rows 2 and 7, Lung's on row 0.
    expect(annotations.next("coronal", 0, 1)).toBe(2);
    expect(annotations.next("coronal", 2, -1)).toBe(0);
    expect(nextAnnotated([], 3, 1)).toBeNull();
  });

  it("opens on the first slice of the task's labels, else of any label", () => {
    const { annotations } = annotated();
    expect(annotations.first("axial", [LUNG.id])).toBe(11);
    expect(annotations.first("axial", [TUMOUR.id])).toBe(4); // the task's label has nothing yet
    expect(annotations.first("axial")).toBe(4);
    expect(new Annotations(viewerState()).first("axial")).toBeNull();
  });

  it("paints one band per label with marks on the slice bar, and titles it with the slices from 1", () => {
    const { annotations } = annotated();
    const marks = annotations.marks("axial");
    expect(annotationRects(marks, 30, 30, 6)).toEqual([
      { x: 4, y: 0, width: 1, height: 3, color: "#ff0000" },
      { x: 17, y: 0, width: 1, height: 3, color: "#ff0000" },
      { x: 11, y: 3, width: 1, height: 3, color: "#00ff00" },
    ]);
    expect(annotatedTitle(marks)).toBe("Masks on slices 5, 12, 18 ([ / ] to jump)");
    expect(annotatedTitle([])).toBe("No slice holds a mask yet");
    expect(sliceLabel({ slice: 3, ready: new Set([3]), depth: 8, plane: "coronal" })).toEqual({ text: "Coronal 4 / 8", ready: true });
    expect(sliceLabel({ slice: 3, ready: new Set(), depth: 8 }).text).toBe("Slice 4 / 8");
  });
});

describe("the task a viewer was opened for", () => {
  const api = (tasks: unknown, status = 200) =>
    new Api(async (url) => {
      expect(url).toBe("/api/projects/1/tasks/?series=7");
      return new Response(JSON.stringify(tasks), { status });
    }, () => "tok");
  const tasks = [
    { id: 3, labels: [LUNG.id], assignments: [{ id: 40 }] },
    { id: 4, labels: [], assignments: [{ id: 41 }] },
  ];

  it("gives its labels, and none for a task of every label, no task, or a failed request", async () => {
    const state = { ...viewerState(), assignmentId: 40 };
    expect(await taskLabels(api(tasks), state, "/api/projects/1/tasks/")).toEqual([LUNG.id]);
    expect(await taskLabels(api(tasks), { ...state, assignmentId: 41 }, "/api/projects/1/tasks/")).toBeNull();
    expect(await taskLabels(api(tasks), { ...state, assignmentId: null }, "/api/projects/1/tasks/")).toBeNull();
    expect(await taskLabels(api({ error: { message: "no" } }, 403), state, "/api/projects/1/tasks/")).toBeNull();
  });
});
