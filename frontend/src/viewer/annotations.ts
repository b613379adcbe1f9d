/**
 * Where the masks are: the slices of each plane that hold a mask, per label. The slice bar marks them in
 * the label's colour, `[` and `]` jump between them, and the viewer opens a series on the first one.
 *
 * Masks are kept per axial slice, so one pass over the axial slices that hold anything gives all three
 * planes: an axial slice z holds a mask, a coronal slice y when some row y of an axial slice does, a
 * sagittal slice x when some column x does. The pass runs again only after an edit, a load or a revision
 * (`invalidate`): scrolling reads the cached answer.
 */

import type { LabelInfo } from "../endpoints";
import type { MaskVolume } from "./maskLayer";
import type { Plane } from "./planes";

/** A label's annotated slices in one plane, ascending. */
export interface SliceMarks {
  labelId: number;
  color: string;
  slices: number[];
}

type PerPlane = Record<Plane, number[]>;

/** The slices of every plane that hold some of the label's mask (axial z, coronal y, sagittal x). */
export function annotatedSlices(volume: MaskVolume, labelId: number): PerPlane {
  const rows = new Uint8Array(volume.height);
  const cols = new Uint8Array(volume.width);
  const axial: number[] = [];
  for (const z of volume.nonEmptySlices(labelId)) {
    axial.push(z);
    const mask = volume.peek(labelId, z)!;
    for (let y = 0; y < volume.height; y++) {
      const row = y * volume.width;
      for (let x = 0; x < volume.width; x++) {
        if (mask[row + x]) {
          rows[y] = 1;
          cols[x] = 1;
        }
      }
    }
  }
  const set = (flags: Uint8Array) => flags.reduce<number[]>((out, v, i) => (v ? (out.push(i), out) : out), []);
  return { axial, coronal: set(rows), sagittal: set(cols) };
}

/**
 * The next annotated slice after `from` (direction 1) or before it (−1) among `marks`, or null when
 * there is none that way.
 */
export function nextAnnotated(marks: readonly SliceMarks[], from: number, direction: 1 | -1): number | null {
  let best: number | null = null;
  for (const { slices } of marks) {
    for (const z of slices) {
      if (direction > 0 ? z > from && (best === null || z < best) : z < from && (best === null || z > best)) best = z;
    }
  }
  return best;
}

/** The slice bar's marks, in pixels of a strip `width` × `height`: one band per label, in label order. */
export function annotationRects(
  marks: readonly SliceMarks[],
  depth: number,
  width: number,
  height: number,
): { x: number; y: number; width: number; height: number; color: string }[] {
  const shown = marks.filter((m) => m.slices.length);
  if (!shown.length || depth < 1) return [];
  const w = Math.max(1, Math.ceil(width / depth));
  const band = height / shown.length;
  return shown.flatMap((m, k) =>
    m.slices.map((z) => ({ x: Math.floor((z * width) / depth), y: Math.round(k * band), width: w, height: Math.max(1, Math.round((k + 1) * band) - Math.round(k * band)), color: m.color })),
  );
}

export class Annotations {
  private cache = new Map<number, PerPlane>();

  constructor(private readonly state: { volume: MaskVolume; labels: readonly LabelInfo[]; hiddenLabels: ReadonlySet<number> }) {}

  /** Masks changed (an edit, a load, a revision): the next question recomputes. */
  invalidate(): void {
    this.cache.clear();
  }

  private of(labelId: number): PerPlane {
    let found = this.cache.get(labelId);
    if (!found) this.cache.set(labelId, (found = annotatedSlices(this.state.volume, labelId)));
    return found;
  }

  /** Each visible label's annotated slices in `plane` (labels restricted to `labelIds` when given). */
  marks(plane: Plane, labelIds?: readonly number[] | null): SliceMarks[] {
    const { labels, hiddenLabels } = this.state;
    return labels
      .filter((l) => (labelIds ? labelIds.includes(l.id) : !hiddenLabels.has(l.id)))
      .map((l) => ({ labelId: l.id, color: l.color, slices: this.of(l.id)[plane] }));
  }

  /** `[` / `]`: the nearest annotated slice before or after `from` in `plane`, or null. */
  next(plane: Plane, from: number, direction: 1 | -1): number | null {
    return nextAnnotated(this.marks(plane), from, direction);
  }

  /** Where to open: the first annotated slice of `labelIds` (a task's labels) or of any label, or null. */
  first(plane: Plane, labelIds?: readonly number[] | null): number | null {
    const own = labelIds?.length ? nextAnnotated(this.marks(plane, labelIds), -1, 1) : null;
    return own ?? nextAnnotated(this.marks(plane), -1, 1);
  }
}

/** The labels of the task this viewer was opened for (`?assignment=`), or null (no task, or none found). */
export async function taskLabels(
  api: { get<T>(path: string): Promise<T> },
  state: { assignmentId: number | null; project: { id: number }; series: { id: number } },
  tasksUrl: string,
): Promise<number[] | null> {
  if (state.assignmentId === null) return null;
  try {
    const tasks = await api.get<{ labels: number[]; assignments: { id: number }[] }[]>(`${tasksUrl}?series=${state.series.id}`);
    const task = tasks.find((t) => t.assignments.some((a) => a.id === state.assignmentId));
    return task?.labels.length ? task.labels : null;
  } catch {
    return null; // the viewer opens anyway, on the first slice holding any mask
  }
}
