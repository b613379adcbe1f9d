import { describe, expect, it } from "vitest";
import { type Command, type Dispatched, ViewerBus, type ViewerEvent } from "./bus";

function clockAt(...times: number[]) {
  return () => times.shift() ?? 0;
}

describe("the viewer's bus", () => {
  it("carries out a command, then tells every listener when it was dispatched and how long it took", () => {
    const done: Command[] = [];
    const heard: Dispatched[] = [];
    const bus = new ViewerBus((c) => done.push(c), clockAt(100, 103.5));
    bus.onCommand((d) => heard.push(d));
    bus.dispatch({ type: "action", action: "undo" });
    expect(done).toEqual([{ type: "action", action: "undo" }]);
    expect(heard).toEqual([{ command: { type: "action", action: "undo" }, at: 100, ms: 3.5 }]);
  });

  it("tells the listeners about a command whose handling threw, and still throws", () => {
    const heard: Command[] = [];
    const bus = new ViewerBus(() => {
      throw new Error("boom");
    });
    bus.onCommand((d) => heard.push(d.command));
    expect(() => bus.dispatch({ type: "stroke.end" })).toThrow("boom");
    expect(heard).toEqual([{ type: "stroke.end" }]);
  });

  it("stops telling a listener once it unsubscribed", () => {
    const heard: string[] = [];
    const bus = new ViewerBus(() => {});
    const stop = bus.onCommand((d) => heard.push(d.command.type));
    bus.dispatch({ type: "stroke.end" });
    stop();
    bus.dispatch({ type: "stroke.end" });
    expect(heard).toEqual(["stroke.end"]);
  });

  it("publishes outcomes to the event listeners only", () => {
    const events: ViewerEvent[] = [];
    const commands: Dispatched[] = [];
    const bus = new ViewerBus(() => {});
    bus.onEvent((e) => events.push(e));
    bus.onCommand((d) => commands.push(d));
    const answered: ViewerEvent = { type: "prompt.answered", startedAt: 1, slice: 2, labelId: 3, model: "m", serverMs: 40 };
    bus.emit(answered);
    expect(events).toEqual([answered]);
    expect(commands).toEqual([]);
  });
});
