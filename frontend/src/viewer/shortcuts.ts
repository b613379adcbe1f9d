/** Keyboard shortcuts: one table drives both the key handler and the help overlay. */

export type Action =
  | "tool.box"
  | "tool.point-positive"
  | "tool.point-negative"
  | "tool.brush"
  | "tool.eraser"
  | "tool.fill"
  | "tool.pan"
  | "accept"
  | "discard"
  | "next-mask"
  | "clear-slice"
  | "brush.smaller"
  | "brush.larger"
  | "slice.next"
  | "slice.previous"
  | "slice.next10"
  | "slice.previous10"
  | "undo"
  | "redo"
  | "save"
  | "window.next-preset"
  | "zoom.fit"
  | "zoom.in"
  | "zoom.out"
  | "opacity.toggle"
  | "propagate"
  | "help"
  | `label.${number}`;

export interface KeyLike {
  key: string;
  ctrlKey?: boolean;
  metaKey?: boolean;
  shiftKey?: boolean;
  altKey?: boolean;
}

export interface Shortcut {
  keys: string;
  action: Action | null;
  description: string;
}

/** What the help overlay lists, in order. Mouse gestures have no action of their own. */
export const SHORTCUTS: readonly Shortcut[] = [
  { keys: "B", action: "tool.box", description: "Box prompt (draw a box around the structure)" },
  { keys: "P", action: "tool.point-positive", description: "Positive point (include here)" },
  { keys: "N", action: "tool.point-negative", description: "Negative point (exclude here)" },
  { keys: "D", action: "tool.brush", description: "Brush" },
  { keys: "E", action: "tool.eraser", description: "Eraser" },
  { keys: "F", action: "tool.fill", description: "Fill the clicked region" },
  { keys: "V", action: "tool.pan", description: "Pan tool" },
  { keys: "[ / ]", action: null, description: "Brush smaller / larger" },
  { keys: "Enter", action: "accept", description: "Accept the model's mask" },
  { keys: "Esc", action: "discard", description: "Discard the model's mask and prompts" },
  { keys: "Tab / M", action: "next-mask", description: "Next candidate mask (shows predicted IoU)" },
  { keys: "Shift+Delete", action: "clear-slice", description: "Clear the label on this slice" },
  { keys: "↑ / ↓, wheel", action: null, description: "Previous / next slice" },
  { keys: "PgUp / PgDn", action: null, description: "10 slices back / forward" },
  { keys: "1–9", action: null, description: "Choose label 1–9" },
  { keys: "Ctrl+Z", action: "undo", description: "Undo (model and manual edits)" },
  { keys: "Ctrl+Shift+Z, Ctrl+Y", action: "redo", description: "Redo" },
  { keys: "Ctrl+S", action: "save", description: "Save now (autosave runs anyway)" },
  { keys: "W", action: "window.next-preset", description: "Next window preset" },
  { keys: "Right-drag", action: null, description: "Window/level (← → width, ↑ ↓ level)" },
  { keys: "Ctrl+wheel, + / −", action: null, description: "Zoom" },
  { keys: "Space+drag, middle-drag", action: null, description: "Pan" },
  { keys: "0", action: "zoom.fit", description: "Fit the image to the window" },
  { keys: "O", action: "opacity.toggle", description: "Hide / show the masks" },
  { keys: "G", action: "propagate", description: "Propagate the mask through the volume (3D)" },
  { keys: "? / H", action: "help", description: "Show / hide this help" },
];

export function actionForKey(ev: KeyLike): Action | null {
  const ctrl = !!(ev.ctrlKey || ev.metaKey);
  const key = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
  if (ctrl) {
    if (key === "z") return ev.shiftKey ? "redo" : "undo";
    if (key === "y") return "redo";
    if (key === "s") return "save";
    return null;
  }
  if (ev.altKey) return null;
  if (/^[1-9]$/.test(key)) return `label.${Number(key)}`;
  switch (key) {
    case "b": return "tool.box";
    case "p": return "tool.point-positive";
    case "n": return "tool.point-negative";
    case "d": return "tool.brush";
    case "e": return "tool.eraser";
    case "f": return "tool.fill";
    case "v": return "tool.pan";
    case "[": return "brush.smaller";
    case "]": return "brush.larger";
    case "Enter": return "accept";
    case "Escape": return "discard";
    case "Tab":
    case "m": return "next-mask";
    case "Delete":
    case "Backspace": return ev.shiftKey ? "clear-slice" : null;
    case "ArrowDown":
    case "ArrowRight": return "slice.next";
    case "ArrowUp":
    case "ArrowLeft": return "slice.previous";
    case "PageDown": return "slice.next10";
    case "PageUp": return "slice.previous10";
    case "w": return "window.next-preset";
    case "0": return "zoom.fit";
    case "+":
    case "=": return "zoom.in";
    case "-": return "zoom.out";
    case "o": return "opacity.toggle";
    case "g": return "propagate";
    case "?":
    case "h": return "help";
    default: return null;
  }
}
