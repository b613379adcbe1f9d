/**
 * The toolbar: a button per tool of the tools and shortcuts table, brush size, Accept, Clear, Undo, Redo,
 * Propagate 3D, mask opacity and help. Every control dispatches a command; the toolbar only shows state.
 */

import { clear, h } from "../../ui/dom";
import type { Dispatch } from "../bus";
import type { ViewerState } from "../state";
import { EDIT_TOOLS, keyHint, TOOLS, type Action } from "../tools";

export interface ToolButton {
  tool: string;
  label: string;
  title: string;
  disabled: boolean;
  /** comments belong to a case (the viewer opened with ?assignment=): elsewhere the button takes no room */
  hidden: boolean;
}

export function toolButtons(readOnly: boolean, inCase = false): ToolButton[] {
  return TOOLS.map(({ tool, label }) => ({
    tool,
    label,
    title: `${label} (${keyHint(`tool.${tool}`)})`,
    disabled: readOnly && EDIT_TOOLS.has(tool),
    hidden: tool === "comment" && !inCase,
  }));
}

/** "Undo (Ctrl+Z)": a button's title with its key from the table. */
export function titled(text: string, action: Action): string {
  return `${text} (${keyHint(action)})`;
}

export class Toolbar {
  private readonly undoButton = h("button", { type: "button", title: titled("Undo", "undo") }, "Undo");
  private readonly redoButton = h("button", { type: "button", title: titled("Redo", "redo") }, "Redo");
  private readonly propagateButton = h("button", { type: "button", title: titled("Propagate through the volume", "propagate") }, "Propagate 3D");
  private readonly acceptButton = h("button", { type: "button", title: titled("Accept the model's mask", "accept"), class: "primary" }, "Accept");
  private readonly size: HTMLInputElement;

  constructor(
    readonly element: HTMLElement,
    state: ViewerState,
    dispatch: Dispatch,
  ) {
    const run = (action: Action) => () => dispatch({ type: "action", action });
    clear(element);
    for (const t of toolButtons(state.readOnly, state.assignmentId !== null)) {
      const button = h("button", { type: "button", "data-tool": t.tool, title: t.title }, t.label);
      button.disabled = t.disabled;
      button.hidden = t.hidden;
      button.addEventListener("click", run(`tool.${t.tool}` as Action));
      element.append(button);
    }
    this.size = h("input", { type: "range", min: 1, max: 100, value: state.brushRadius, "aria-label": "Brush size", class: "brush-size" });
    this.size.addEventListener("input", () => dispatch({ type: "brush.size", radius: Number(this.size.value) }));
    const opacity = h("input", { type: "range", min: 0, max: 100, value: state.opacity * 100, "aria-label": "Mask opacity", class: "opacity" });
    opacity.addEventListener("input", () => dispatch({ type: "opacity.set", opacity: Number(opacity.value) / 100 }));
    const accept = this.acceptButton;
    accept.addEventListener("click", run("accept"));
    const clearButton = h("button", { type: "button", title: titled("Clear the label on this slice", "clear-slice") }, "Clear");
    clearButton.addEventListener("click", run("clear-slice"));
    const helpButton = h("button", { type: "button", title: titled("Keyboard shortcuts", "help") }, "?");
    helpButton.addEventListener("click", run("help"));
    this.undoButton.addEventListener("click", run("undo"));
    this.redoButton.addEventListener("click", run("redo"));
    this.propagateButton.addEventListener("click", run("propagate"));
    for (const b of [accept, clearButton, this.propagateButton]) b.disabled = state.readOnly;
    accept.disabled = true; // until there is a candidate to accept
    this.propagateButton.hidden = state.geometry.depth <= 1;
    element.append(
      h("label", { class: "inline" }, "Size ", this.size),
      accept,
      clearButton,
      this.undoButton,
      this.redoButton,
      this.propagateButton,
      h("label", { class: "inline" }, "Opacity ", opacity),
      helpButton,
    );
  }

  showTool(tool: string): void {
    for (const b of this.element.querySelectorAll<HTMLButtonElement>("[data-tool]")) b.classList.toggle("active", b.dataset.tool === tool);
  }

  showBrush(radius: number): void {
    this.size.value = String(radius);
  }

  showHistory(canUndo: boolean, canRedo: boolean): void {
    this.undoButton.disabled = !canUndo;
    this.redoButton.disabled = !canRedo;
  }

  /** Accept is offered only while a model candidate is shown. */
  showAccept(enabled: boolean): void {
    this.acceptButton.disabled = !enabled;
  }

  showPropagation(enabled: boolean): void {
    this.propagateButton.disabled = !enabled;
  }
}
