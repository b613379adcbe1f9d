import { describe, expect, it } from "vitest";
import { activeMsByLabel, formatDuration, runningMs, type TimedEvent } from "./activeTime";
import shared from "./activeTime.cases.json";

interface SharedCase {
  name: string;
  idle_s?: number;
  seqs?: number[];
  events: (string | number)[][];
  expected: Record<string, number>;
}

function toEvents(c: SharedCase): TimedEvent[] {
  return c.events.map(([session, t, kind, label, duration], i) => ({
    session: String(session),
    seq: c.seqs ? c.seqs[i]! : i,
    t: Number(t) * 1000,
    kind: String(kind),
    label: Number(label),
    duration: duration === undefined ? 0 : Number(duration) * 1000,
  }));
}

describe("active time on the shared scripted streams (the server gives the same numbers)", () => {
  for (const c of shared.cases as SharedCase[]) {
    it(c.name, () => {
      const got = Object.fromEntries([...activeMsByLabel(toEvents(c), (c.idle_s ?? 30) * 1000)].map(([k, v]) => [String(k), v / 1000]));
      expect(got).toEqual(c.expected);
    });
  }
});

describe("the running clock", () => {
  const at = (t: number, kind: string, label = 1, seq = 0): TimedEvent => ({ session: "s", seq, t: t * 1000, kind, label });
  const events = [at(0, "page.open", 1, 0), at(10, "brush", 1, 1)];

  it("keeps running after the last action until the idle threshold, then stops", () => {
    expect(runningMs(events, 1, 30_000, 25_000)).toBe(25_000);
    expect(runningMs(events, 1, 30_000, 40_000)).toBe(40_000);
    expect(runningMs(events, 1, 30_000, 40_001)).toBe(10_000);
  });

  it("stops while the tab is hidden and runs for the label on screen only", () => {
    expect(runningMs([...events, at(12, "hidden", 1, 2)], 1, 30_000, 20_000)).toBe(12_000);
    expect(runningMs(events, 2, 30_000, 20_000)).toBe(0);
  });

  it("formats minutes and hours", () => {
    expect(formatDuration(65_400)).toBe("1:05");
    expect(formatDuration(3_723_000)).toBe("1:02:03");
  });
});
