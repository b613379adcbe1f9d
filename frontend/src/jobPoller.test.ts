import { describe, expect, it } from "vitest";

import { JobPoller } from "./jobPoller";

function fakeTime() {
  let now = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  let next = 1;
  return {
    options: {
      pollMs: 1000,
      now: () => now,
      setTimer: (fn: () => void, ms: number) => {
        timers.set(next, { at: now + ms, fn });
        return next++;
      },
      clearTimer: (handle: unknown) => void timers.delete(handle as number),
    },
    async advance(ms: number) {
      now += ms;
      for (const [id, timer] of [...timers]) {
        if (timer.at <= now) {
          timers.delete(id);
          timer.fn();
        }
      }
      await Promise.resolve();
      await Promise.resolve();
    },
    pending: () => timers.size,
  };
}

describe("JobPoller", () => {
  it("asks the server while the socket is silent, and not while it delivers", async () => {
    const time = fakeTime();
    const fetched: number[] = [];
    let active = true;
    const poller = new JobPoller<number>(
      () => Promise.resolve(7),
      (job) => fetched.push(job),
      () => active,
      time.options,
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
    expect(time.pending()).toBe(0);
  });

  it("keeps asking after a failed request and stops when told to", async () => {
    const time = fakeTime();
    let calls = 0;
    const poller = new JobPoller<number>(
      () => {
        calls += 1;
        return calls === 1 ? Promise.reject(new Error("blip")) : Promise.resolve(calls);
      },
      () => undefined,
      () => true,
      time.options,
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
