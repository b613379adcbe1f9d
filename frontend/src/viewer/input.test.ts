import { describe, expect, it } from "vitest";
import { viewerState } from "../testing/viewer";
import type { Command } from "./bus";
import { ViewerInput, typingInto, type InputSurface } from "./input";
import type { RawSlice } from "./sliceSource";
import type { ViewerState } from "./state";

/** The canvas sits at client (0, 0) and the image is shown at scale 10, so client (35, 42) is image (3.5, 4.2). */
function setup(state: ViewerState = viewerState(), raw?: RawSlice) {
  const commands: Command[] = [];
  const warnings: string[] = [];
  const log: string[] = [];
  const surface: InputSurface = {
    local: (x, y) => [x, y],
    capture: (id) => void log.push(`capture ${id}`),
    release: (id) => void log.push(`release ${id}`),
    focus: () => void log.push("focus"),
  };
  const input = new ViewerInput({
    state,
    surface,
    dispatch: (c) => void commands.push(c),
    redraw: () => void log.push("redraw"),
    warn: (text) => void warnings.push(text),
    currentSlice: () => raw,
  });
  return { state, input, commands, warnings, log };
}

const at = (clientX: number, clientY: number, button = 0) => ({ clientX, clientY, button, pointerId: 1 });

function key(k: string, extra: Partial<{ ctrlKey: boolean; shiftKey: boolean; target: EventTarget | null }> = {}) {
  const ev = { key: k, target: null as EventTarget | null, defaultPrevented: false, preventDefault: () => (ev.defaultPrevented = true), ...extra };
  return ev;
}

describe("pointer input", () => {
  it("turns a box drag into one box prompt in image pixels, clamped to the image and rounded", () => {
    const { input, commands, state, log } = setup();
    input.down(at(12, 18));
    expect(state.drag).toEqual({ kind: "box", start: { x: 1.2, y: 1.8 }, last: { x: 1.2, y: 1.8 } });
    input.move(at(60, 50));
    input.move(at(140, 57));
    expect(state.drag).toMatchObject({ last: { x: 14, y: 5.7 } });
    expect(commands).toEqual([]);
    input.up(at(140, 57));
    expect(commands).toEqual([{ type: "prompt.box", box: [1, 2, 10, 6] }]);
    expect(state.drag).toBeNull();
    expect(log).toEqual(["focus", "capture 1", "redraw", "redraw", "release 1"]);
  });

  it("ignores a box smaller than two pixels (a click), only redrawing", () => {
    const { input, commands, log } = setup();
    input.down(at(20, 20));
    input.up(at(30, 25));
    expect(commands).toEqual([]);
    expect(log).toEqual(["focus", "capture 1", "release 1", "redraw"]);
  });

  it("paints with the brush: begin, a step per move, end; the eraser paints 0", () => {
    const { input, commands, state } = setup();
    state.tool = "brush";
    input.down(at(20, 30));
    input.move(at(25, 30));
    input.up(at(25, 30));
    expect(commands).toEqual([
      { type: "stroke.begin", x: 2, y: 3, value: 1 },
      { type: "stroke.extend", x: 2.5, y: 3 },
      { type: "stroke.end" },
    ]);
    state.tool = "eraser";
    input.down(at(20, 30));
    expect(commands.at(-1)).toEqual({ type: "stroke.begin", x: 2, y: 3, value: 0 });
  });

  it("sends a point per click with the point tools, and a fill with the fill tool", () => {
    const { input, commands, state } = setup();
    state.tool = "point-positive";
    input.down(at(35, 42));
    state.tool = "point-negative";
    input.down(at(10, 10));
    state.tool = "fill";
    input.down(at(50, 50));
    expect(commands).toEqual([
      { type: "prompt.point", x: 3.5, y: 4.2, label: 1 },
      { type: "prompt.point", x: 1, y: 1, label: 0 },
      { type: "fill", x: 5, y: 5 },
    ]);
  });

  it("pans with the pan tool, the middle button, or Space held, by the mouse's movement", () => {
    const { input, commands, state } = setup();
    input.down(at(10, 10, 1));
    input.move(at(15, 13));
    input.move(at(20, 13));
    input.up(at(20, 13));
    expect(commands).toEqual([
      { type: "pan", dx: 5, dy: 3 },
      { type: "pan", dx: 5, dy: 0 },
    ]);
    commands.length = 0;
    input.keyDown(key(" "));
    input.down(at(0, 0));
    input.move(at(-4, 0));
    input.up(at(-4, 0));
    input.keyUp({ key: " " });
    state.tool = "pan";
    input.down(at(0, 0));
    input.move(at(0, 7));
    expect(commands).toEqual([
      { type: "pan", dx: -4, dy: 0 },
      { type: "pan", dx: 0, dy: 7 },
    ]);
  });

  it("drags the display window with the right button, from the window at the start of the drag", () => {
    const raw: RawSlice = { index: 2, width: 10, height: 8, channels: 1, values: Int16Array.from({ length: 80 }, (_, i) => i * 10) };
    const { input, commands, state } = setup(viewerState(), raw);
    state.window = { level: 40, width: 400 };
    input.down(at(50, 40, 2));
    input.move(at(60, 40));
    input.move(at(70, 30));
    input.up(at(70, 30));
    const drags = commands.filter((c) => c.type === "window.drag").map((c) => (c as Extract<Command, { type: "window.drag" }>).window);
    expect(drags).toHaveLength(2);
    expect(drags[0]!.width).toBeGreaterThan(400);
    expect(drags[1]!.width).toBeGreaterThan(drags[0]!.width);
    expect(drags[1]!.level).not.toBe(40);
    expect(commands.at(-1)).toEqual({ type: "window.drag-end" });
    expect(state.window).toEqual({ level: 40, width: 400 }); // the controller applies it, not the input
  });

  it("does not drag the window of a colour image", () => {
    const state = viewerState({ series: { kind: "image", shape: [1, 8, 10, 3] } });
    const { input, commands } = setup(state);
    input.down(at(50, 40, 2));
    input.move(at(60, 40));
    input.up(at(60, 40));
    expect(commands).toEqual([{ type: "window.drag-end" }]);
  });

  it("lets a reviewer look (pan, window) but not draw, and warns an annotator of a project without labels", () => {
    const reviewer = setup(viewerState({ role: "reviewer" }));
    reviewer.state.tool = "box";
    reviewer.input.down(at(10, 10));
    reviewer.input.up(at(60, 60));
    expect(reviewer.commands).toEqual([]);
    expect(reviewer.warnings).toEqual([]);
    const unlabelled = setup(viewerState({ labels: [] }));
    unlabelled.input.down(at(10, 10));
    expect(unlabelled.commands).toEqual([]);
    expect(unlabelled.warnings).toEqual(["This project has no labels: add one before drawing."]);
  });

  it("tracks the image point under the mouse, redrawing the brush outline, and forgets it when the mouse leaves", () => {
    const { input, state, log } = setup();
    input.move(at(30, 40));
    expect(state.pointer).toEqual({ x: 3, y: 4 });
    expect(log).toEqual([]); // the box tool has no outline
    state.tool = "brush";
    input.move(at(31, 40));
    expect(log).toEqual(["redraw"]);
    input.leave();
    expect(state.pointer).toBeNull();
  });
});

describe("wheel and keys", () => {
  it("scrolls one slice per wheel step and zooms at the mouse with Ctrl", () => {
    const { input, commands, state } = setup();
    let prevented = 0;
    const wheel = (deltaY: number, ctrlKey = false) => ({ clientX: 30, clientY: 20, deltaY, ctrlKey, metaKey: false, preventDefault: () => prevented++ });
    input.wheel(wheel(120));
    input.wheel(wheel(-3));
    input.wheel(wheel(0));
    input.wheel(wheel(-100, true));
    expect(commands.slice(0, 2)).toEqual([
      { type: "slice.go", index: state.slice + 1 },
      { type: "slice.go", index: state.slice - 1 },
    ]);
    expect(commands[2]).toMatchObject({ type: "zoom", sx: 30, sy: 20 });
    expect((commands[2] as { factor: number }).factor).toBeGreaterThan(1);
    expect(commands).toHaveLength(3);
    expect(prevented).toBe(4);
  });

  it("dispatches the table's action for a key and keeps the key from the page", () => {
    const { input, commands } = setup();
    const undo = key("z", { ctrlKey: true });
    input.keyDown(undo);
    const stray = key("q");
    input.keyDown(stray);
    expect(commands).toEqual([{ type: "action", action: "undo" }]);
    expect(undo.defaultPrevented).toBe(true);
    expect(stray.defaultPrevented).toBe(false);
  });

  it("leaves keys typed into a text field alone, but not those on the slice slider", () => {
    const { input, commands } = setup();
    input.keyDown(key("b", { target: { tagName: "INPUT", type: "text" } as unknown as EventTarget }));
    input.keyDown(key("b", { target: { tagName: "TEXTAREA" } as unknown as EventTarget }));
    input.keyDown(key("ArrowDown", { target: { tagName: "INPUT", type: "range" } as unknown as EventTarget }));
    expect(commands).toEqual([{ type: "action", action: "slice.next" }]);
    expect(typingInto(null)).toBe(false);
  });

  it("while the help is open, leaves the arrow and page keys to scroll it; ? and Esc still reach the viewer", () => {
    const { state, input, commands } = setup();
    state.helpOpen = true;
    const down = key("ArrowDown");
    input.keyDown(down);
    input.keyDown(key("PageDown"));
    input.keyDown(key("Escape"));
    input.keyDown(key("?"));
    expect(commands).toEqual([
      { type: "action", action: "discard" },
      { type: "action", action: "help" },
    ]);
    expect(down.defaultPrevented).toBe(false);
  });
});
