import { describe, expect, it } from "vitest";

import { JobPoller } from "./jobPoller";
import { manualClock } from "./testing/clock";

describe("JobPoller", () => {
  it("asks the server while the socket is silent, and not while it delivers", async () => {
    const time = manualClock();
    const options = { pollMs: 1000, now: time.now, setTimer: time.setTimer, clearTimer: time.clearTimer };
    const fetched: number[] = [];
    let active = true;
    const poller = new JobPoller<number>(
      () => Promise.resolve(7),
      (job) => fetched.push(job),
      () => active,
      options,
    );
    poller.ensure();
    await time.advance(1000);
    expect(fetched).toEqual([7]);
    await time.advance(500);
    poller.heard(); // a socket message arrives half-way to the next poll
    await time.advance(500);
    expect(fetched).toEqual([7]); // heard 500 ms ago: no need to ask
    await time.advance(1000);
    expect(fetched).toEqual([7, 7]);
    active = false;
    await time.advance(1000);
    expect(fetched).toEqual([7, 7]);
    expect(time.scheduled).toBe(0);
  });

  it("keeps asking after a failed request and stops when told to", async () => {
    const time = manualClock();
    const options = { pollMs: 1000, now: time.now, setTimer: time.setTimer, clearTimer: time.clearTimer };
    let calls = 0;
    const poller = new JobPoller<number>(
      () => {
        calls += 1;
        return calls === 1 ? Promise.reject(new Error("blip")) : Promise.resolve(calls);
      },
      () => undefined,
      () => true,
      options,
    );
    poller.ensure();
    await time.advance(1000);
    await time.advance(1000);
    expect(calls).toBe(2);
    poller.stop();
    await time.advance(5000);
    expect(calls).toBe(2);
  });
});
