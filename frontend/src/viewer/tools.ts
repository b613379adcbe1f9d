/**
 * The viewer's tools and keyboard shortcuts, in ONE table: the key handler (`actionForKey`), the help
 * overlay (`SHORTCUTS`), the toolbar's tool buttons (`TOOLS`) and the key hints in button titles
 * (`keyHint`) are all read from it, so a shortcut is added or changed in one place.
 */

export type Tool = "box" | "point-positive" | "point-negative" | "brush" | "eraser" | "fill" | "pan" | "comment";

export type Action =
  | `tool.${Tool}`
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
  | `label.${number}`
  // Planes and annotated slices (issue 15)
  | "plane.axial"
  | "plane.coronal"
  | "plane.sagittal"
  | "slice.next-annotated"
  | "slice.previous-annotated"
  | "crosshair.toggle";

export interface KeyLike {
  key: string;
  ctrlKey?: boolean;
  metaKey?: boolean;
  shiftKey?: boolean;
  altKey?: boolean;
}

/** A key an action answers to, written "b", "Shift+Delete", "Ctrl+z", "Ctrl+Shift+z" (Ctrl also means Cmd). */
type Press = string;

export interface Binding {
  action: Action;
  press: readonly Press[];
}

export interface ToolInfo {
  tool: Tool;
  /** the toolbar button's text */
  label: string;
  /** whether the tool changes masks (reviewers, who are read-only, cannot pick it) */
  edits: boolean;
}

/** One row of the help overlay: what to press, what it does, and the actions it triggers (none for mouse gestures). */
export interface Shortcut {
  keys: string;
  description: string;
  bindings: readonly Binding[];
  /** set on the rows that choose a tool: the toolbar shows them as buttons */
  tool?: ToolInfo;
}

function row(keys: string, description: string, ...bindings: Binding[]): Shortcut {
  return { keys, description, bindings };
}

function bind(action: Action, ...press: Press[]): Binding {
  return { action, press };
}

function tool(id: Tool, label: string, keys: string, description: string, edits = true): Shortcut {
  return { keys, description, bindings: [bind(`tool.${id}`, keys.toLowerCase())], tool: { tool: id, label, edits } };
}

/** What the help overlay lists, in order. */
export const SHORTCUTS: readonly Shortcut[] = [
  tool("box", "Box", "B", "Box prompt (draw a box around the structure)"),
  tool("point-positive", "+ Point", "P", "Positive point (include here)"),
  tool("point-negative", "− Point", "N", "Negative point (exclude here)"),
  tool("brush", "Brush", "D", "Brush"),
  tool("eraser", "Eraser", "E", "Eraser"),
  tool("fill", "Fill", "F", "Fill the clicked region"),
  tool("pan", "Pan", "V", "Pan tool", false),
  tool("comment", "Comment", "K", "Pin a comment on the image (a case opened from the project page)", false),
  row(", / ., Alt+wheel", "Brush smaller / larger", bind("brush.smaller", ","), bind("brush.larger", ".")),
  row("Enter", "Accept the model's mask", bind("accept", "Enter")),
  row("Esc", "Discard the model's mask and prompts", bind("discard", "Escape")),
  row("Tab / M", "Next candidate mask (shows predicted IoU)", bind("next-mask", "Tab", "m")),
  row("Shift+Delete", "Clear the label on this slice", bind("clear-slice", "Shift+Delete", "Shift+Backspace")),
  row(
    "↑ / ↓, wheel",
    "Previous / next slice",
    bind("slice.previous", "ArrowUp", "ArrowLeft"),
    bind("slice.next", "ArrowDown", "ArrowRight"),
  ),
  row("PgUp / PgDn", "10 slices back / forward", bind("slice.previous10", "PageUp"), bind("slice.next10", "PageDown")),
  row("[ / ]", "Previous / next slice holding a mask (marked on the slice bar)", bind("slice.previous-annotated", "["), bind("slice.next-annotated", "]")),
  row(
    "A / C / S",
    "Axial / coronal / sagittal plane in the main view",
    bind("plane.axial", "a"),
    bind("plane.coronal", "c"),
    bind("plane.sagittal", "s"),
  ),
  row("Shift+click, click a small view", "Move the crosshair there: the other planes follow"),
  row("X", "Show / hide the crosshair", bind("crosshair.toggle", "x")),
  row("1–9", "Choose label 1–9", ...Array.from({ length: 9 }, (_, i) => bind(`label.${i + 1}`, String(i + 1)))),
  row("Ctrl+Z", "Undo (model and manual edits)", bind("undo", "Ctrl+z")),
  row("Ctrl+Shift+Z, Ctrl+Y", "Redo", bind("redo", "Ctrl+Shift+z", "Ctrl+y")),
  row("Ctrl+S", "Save now (autosave runs anyway)", bind("save", "Ctrl+s")),
  row("W", "Next window preset", bind("window.next-preset", "w")),
  row("Right-drag", "Window/level (← → width, ↑ ↓ level)"),
  row("Ctrl+wheel, + / −", "Zoom", bind("zoom.in", "+", "="), bind("zoom.out", "-")),
  row("Space+drag, middle-drag", "Pan"),
  row("0", "Fit the image to the window", bind("zoom.fit", "0")),
  row("O", "Hide / show the masks", bind("opacity.toggle", "o")),
  row("G", "Propagate the mask through the volume (3D)", bind("propagate", "g")),
  row("? / H", "Show / hide this help", bind("help", "?", "h")),
];

/** The toolbar's tools, in the table's order. */
export const TOOLS: readonly ToolInfo[] = SHORTCUTS.flatMap((s) => (s.tool ? [s.tool] : []));

/** Tools that ask the model (off in a timing study's manual condition: state.modelAllowed). */
export const MODEL_TOOLS: ReadonlySet<Tool> = new Set<Tool>(["box", "point-positive", "point-negative"]);

/** Tools that change masks. */
export const EDIT_TOOLS: ReadonlySet<Tool> = new Set(TOOLS.filter((t) => t.edits).map((t) => t.tool));

interface ParsedPress {
  key: string;
  ctrl: boolean;
  /** undefined: with or without Shift */
  shift: boolean | undefined;
  action: Action;
}

export function parsePress(press: Press, action: Action): ParsedPress {
  const parts = press.length === 1 ? [press] : press.split("+");
  const key = parts[parts.length - 1]!;
  const mods = new Set(parts.slice(0, -1));
  return { key, ctrl: mods.has("Ctrl"), shift: mods.has("Shift") ? true : undefined, action };
}

const PRESSES: readonly ParsedPress[] = SHORTCUTS.flatMap((s) => s.bindings.flatMap((b) => b.press.map((p) => parsePress(p, b.action))));

/**
 * The action a key press triggers, or null. Letters match in either case; Shift only matters where the
 * table says so (Shift+Delete, Ctrl+Shift+Z: a binding naming Shift wins over one that does not). Alt
 * without Ctrl triggers nothing.
 */
export function actionForKey(ev: KeyLike): Action | null {
  const ctrl = !!(ev.ctrlKey || ev.metaKey);
  if (!ctrl && ev.altKey) return null;
  const key = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
  const shift = !!ev.shiftKey;
  const candidates = PRESSES.filter((p) => p.key === key && p.ctrl === ctrl);
  const exact = candidates.find((p) => p.shift === shift);
  if (exact) return exact.action;
  return candidates.find((p) => p.shift === undefined)?.action ?? null;
}

/** The help row that lists `action`, if any. */
export function shortcutFor(action: Action): Shortcut | undefined {
  return SHORTCUTS.find((s) => s.bindings.some((b) => b.action === action));
}

/** The first key of an action's row, for a button's title: "Ctrl+Shift+Z, Ctrl+Y" → "Ctrl+Shift+Z". */
export function keyHint(action: Action): string {
  return shortcutFor(action)?.keys.split(/, | \/ /)[0] ?? "";
}
