/**
 * The one place user actions go through. Keys, toolbar buttons, panel clicks and mouse gestures become
 * `Command`s dispatched on the controller's bus; the controller carries them out. Whatever wants to see
 * every action (the test probe's timings today; the interaction log of the timing work next) subscribes
 * here instead of being called from each tool. Outcomes that arrive later (a prompt's answer) are
 * published as `ViewerEvent`s on the same bus.
 */

import type { DisplayWindow } from "./windowing";
import type { ReviewCommand } from "./reviewState";
import type { Plane } from "./planes";
import type { Action } from "./tools";

export type Command =
  /** an action of the tools and shortcuts table, from a key or a button */
  | { type: "action"; action: Action }
  | { type: "slice.go"; index: number }
  | { type: "label.select"; labelId: number }
  | { type: "label.visibility"; labelId: number }
  | { type: "candidate.choose"; index: number }
  | { type: "brush.size"; radius: number }
  | { type: "opacity.set"; opacity: number }
  | { type: "window.preset"; name: string; window: DisplayWindow }
  /** right-drag: the window while dragging, then the end of the drag */
  | { type: "window.drag"; window: DisplayWindow }
  | { type: "window.drag-end" }
  /** screen pixels */
  | { type: "pan"; dx: number; dy: number }
  | { type: "zoom"; sx: number; sy: number; factor: number }
  /** image pixels from here on */
  | { type: "prompt.box"; box: [number, number, number, number] }
  | { type: "prompt.point"; x: number; y: number; label: 0 | 1 }
  | { type: "stroke.begin"; x: number; y: number; value: 0 | 1 }
  | { type: "stroke.extend"; x: number; y: number }
  | { type: "stroke.end" }
  | { type: "fill"; x: number; y: number }
  | { type: "propagation.cancel" }
  | { type: "conflict.resolve"; labelId: number; keepMine: boolean }
  /** the main view's plane (the switcher; keys are actions) */
  | { type: "plane.select"; plane: Plane }
  /** a click at display pixels (x, y) of a view of `plane`: the crosshair goes to that voxel */
  | { type: "crosshair.point"; plane: Plane; x: number; y: number }
  /** the case: layers, comments, approval, consensus, Submit and next (reviewState.ts, review.ts) */
  | ReviewCommand
  /** the page's window gained or lost focus, its tab was shown or hidden (viewer/page.ts): only the
   * interaction log (frontend/src/timing/) listens; the controller has nothing to do with them */
  | { type: "page.focus" }
  | { type: "page.blur" }
  | { type: "page.visibility"; visible: boolean };

export type CommandOf<T extends Command["type"]> = Extract<Command, { type: T }>;

/** Outcomes of earlier commands, published by the part that saw them. */
export type ViewerEvent =
  | {
      type: "prompt.answered";
      /** when the prompt was given (the clock of the bus: performance.now() in the browser) */
      startedAt: number;
      slice: number;
      labelId: number;
      model: string;
      /** the worker's share (prompt.result timings.total_ms) */
      serverMs: number;
    }
  /** autosave stored a revision of a label's mask (sync.ts) */
  | { type: "mask.saved"; labelId: number; revisionId: number; source: string; modelVersion: string }
  /** a corrective point the server's guard did not apply (docs/protocol.md `prompt.refused`) */
  | { type: "prompt.refused"; slice: number; reason: "outside_region" | "iou_dropped" };

/** A command as carried out: when it was dispatched and how long its synchronous part took. */
export interface Dispatched {
  command: Command;
  at: number;
  ms: number;
}

export type Dispatch = (command: Command) => void;
export type Emit = (event: ViewerEvent) => void;

export class ViewerBus {
  private readonly commandListeners = new Set<(d: Dispatched) => void>();
  private readonly eventListeners = new Set<(e: ViewerEvent) => void>();

  constructor(
    private readonly handle: Dispatch,
    readonly now: () => number = () => performance.now(),
  ) {}

  /** Carry out a command, then tell the command listeners (also when carrying it out threw). */
  readonly dispatch: Dispatch = (command) => {
    const at = this.now();
    try {
      this.handle(command);
    } finally {
      const done: Dispatched = { command, at, ms: this.now() - at };
      for (const listener of this.commandListeners) listener(done);
    }
  };

  readonly emit: Emit = (event) => {
    for (const listener of this.eventListeners) listener(event);
  };

  /** Returns the function that unsubscribes. */
  onCommand(listener: (d: Dispatched) => void): () => void {
    this.commandListeners.add(listener);
    return () => this.commandListeners.delete(listener);
  }

  onEvent(listener: (e: ViewerEvent) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }
}
