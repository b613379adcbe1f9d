/**
 * What the viewer's bus carries, as interaction events (kinds of annotator/timing/schema.py): every
 * command and outcome becomes one event with the series, label, task assignment and slice on screen.
 * A brush or eraser stroke (press, moves, release) is one event at the release with its duration;
 * continuous view changes (pan, zoom, window drags, opacity, brush size) within a second of each other are
 * one `view` event with a duration. Times are the bus's clock turned into the client's epoch milliseconds.
 */

import type { Command, Dispatched, ViewerEvent } from "../viewer/bus";
import type { ViewerState } from "../viewer/state";
import type { EventFields, EventKind, InteractionLog } from "./interactionLog";

/** Commands that change only what is seen, merged while they keep coming. */
const VIEW_COMMANDS: ReadonlySet<Command["type"]> = new Set([
  "pan",
  "zoom",
  "window.drag",
  "window.drag-end",
  "window.preset",
  "opacity.set",
  "brush.size",
  "label.visibility",
]);
const VIEW_MERGE_MS = 1000;

export type LogState = Pick<ViewerState, "series" | "activeLabel" | "assignmentId" | "slice" | "geometry"> &
  Partial<Pick<ViewerState, "plane" | "cursor">>;

/** The kind and fields of a bus command, or null for the commands logged otherwise (strokes, views). */
export function commandEvent(command: Command): { kind: EventKind; fields?: EventFields } | null {
  switch (command.type) {
    case "action": {
      const action = command.action;
      if (action.startsWith("tool.")) return { kind: "tool", fields: { detail: { tool: action.slice(5) } } };
      if (action.startsWith("label.")) return { kind: "label" };
      if (action.startsWith("slice.")) return { kind: "slice" };
      switch (action) {
        case "undo":
        case "redo":
        case "accept":
        case "propagate":
          return { kind: action };
        case "clear-slice":
          return { kind: "clear" };
        case "next-mask":
        case "discard":
          return { kind: "candidate", fields: { detail: { action } } };
        default:
          return { kind: "view", fields: { detail: { action } } };
      }
    }
    case "slice.go":
      return { kind: "slice" };
    case "label.select":
      return { kind: "label" };
    case "candidate.choose":
      return { kind: "candidate", fields: { detail: { index: command.index } } };
    case "prompt.box":
      return { kind: "prompt", fields: { detail: { box: command.box.map((v) => Math.round(v)) } } };
    case "prompt.point":
      return { kind: "prompt", fields: { detail: { point: [Math.round(command.x), Math.round(command.y)], positive: command.label === 1 } } };
    case "fill":
      return { kind: "fill" };
    case "propagation.cancel":
      return { kind: "propagate.cancel" };
    case "conflict.resolve":
      return { kind: "conflict", fields: { detail: { keep_mine: command.keepMine } } };
    case "page.focus":
      return { kind: "focus" };
    case "page.blur":
      return { kind: "blur" };
    case "page.visibility":
      return { kind: command.visible ? "visible" : "hidden" };
    case "plane.select":
      return { kind: "view", fields: { detail: { plane: command.plane } } };
    case "crosshair.point":
      return { kind: "slice", fields: { detail: { crosshair: command.plane } } };
    case "case.submit-next":
      return { kind: "submit" };
    case "review.layer.toggle":
    case "review.history":
    case "review.restore":
    case "comment.pin":
    case "comment.send":
    case "comment.resolve":
    case "review.approve":
    case "review.consensus":
      return { kind: "review", fields: { detail: { action: command.type } } };
    default:
      return null;
  }
}

export class ViewerLogger {
  private stroke: { at: number; value: 0 | 1; steps: number } | null = null;
  private view: { first: number; last: number; what: string } | null = null;

  constructor(
    private readonly log: InteractionLog,
    private readonly state: LogState,
    /** the bus's clock (performance.now()) → ms since the epoch */
    private readonly toEpoch: (busTime: number) => number,
  ) {}

  /** Where the user is, for every event. */
  context(labelId?: number | null): EventFields {
    const { state } = this;
    return {
      series_id: state.series.id,
      label_id: labelId === undefined ? (state.activeLabel?.id ?? null) : labelId,
      assignment_id: state.assignmentId,
      // the axial slice (on a coronal or sagittal view, the crosshair's: slices are counted axially)
      slice_index: Math.min(!state.plane || state.plane === "axial" || !state.cursor ? state.slice : state.cursor.z, state.geometry.depth - 1),
    };
  }

  record(kind: EventKind, busTime: number, fields: EventFields = {}): void {
    this.log.record(kind, { ...this.context(), ...fields }, this.toEpoch(busTime));
  }

  onCommand({ command, at }: Dispatched): void {
    if (VIEW_COMMANDS.has(command.type)) {
      if (this.view && at - this.view.last <= VIEW_MERGE_MS && this.view.what === command.type) this.view.last = at;
      else {
        this.closeView();
        this.view = { first: at, last: at, what: command.type };
      }
      return;
    }
    this.closeView();
    switch (command.type) {
      case "stroke.begin":
        this.stroke = { at, value: command.value, steps: 1 };
        return;
      case "stroke.extend":
        if (this.stroke) this.stroke.steps += 1;
        return;
      case "stroke.end": {
        const stroke = this.stroke;
        this.stroke = null;
        if (stroke) this.record(stroke.value ? "brush" : "eraser", at, { duration_ms: Math.max(0, at - stroke.at), detail: { steps: stroke.steps } });
        return;
      }
    }
    const event = commandEvent(command);
    if (event) this.record(event.kind, at, event.fields);
  }

  onEvent(event: ViewerEvent, busNow: number): void {
    if (event.type === "prompt.answered") {
      this.record("prompt.result", busNow, {
        label_id: event.labelId,
        slice_index: event.slice,
        model_version: event.model,
        detail: { server_ms: Math.round(event.serverMs), wait_ms: Math.round(busNow - event.startedAt) },
      });
    } else if (event.type === "mask.saved") {
      this.record("save", busNow, {
        label_id: event.labelId,
        revision_id: event.revisionId,
        model_version: event.modelVersion,
        detail: { source: event.source },
      });
    }
  }

  /** A pending merged view change becomes its event (before another event, and on pagehide). */
  closeView(): void {
    const view = this.view;
    this.view = null;
    if (view) this.record("view", view.last, { duration_ms: view.last - view.first, detail: { what: view.what } });
  }
}
