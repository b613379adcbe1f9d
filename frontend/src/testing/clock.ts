/** Manual timers and clock for tests, so polling and debouncing are driven step by step. */
export function manualClock() {
  const pending: { fn: () => void; at: number }[] = [];
  let now = 0;
  return {
    now: () => now,
    setTimer: (fn: () => void, ms: number) => {
      const entry = { fn, at: now + ms };
      pending.push(entry);
      return entry;
    },
    clearTimer: (handle: unknown) => {
      const i = pending.indexOf(handle as { fn: () => void; at: number });
      if (i >= 0) pending.splice(i, 1);
    },
    /** Move the clock on, run the timers now due, and let the promises they started settle. */
    async advance(ms: number) {
      now += ms;
      for (const entry of pending.filter((e) => e.at <= now)) {
        pending.splice(pending.indexOf(entry), 1);
        entry.fn();
      }
      for (let i = 0; i < 5; i++) await Promise.resolve();
      await new Promise((r) => setTimeout(r, 0));
    },
    get scheduled() {
      return pending.length;
    },
  };
}
