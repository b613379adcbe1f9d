/**
 * Follows a background job (import, export, …): the socket's `job.progress` messages come first; while the
 * socket has been silent for a poll interval (it may be down) the job is fetched instead. Timers and the
 * clock are injectable so trackers can be tested without waiting.
 */

export interface PollOptions {
  /** Poll the job this often while no socket message has arrived for as long. */
  pollMs?: number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
  now?: () => number;
}

export class JobPoller<J> {
  private timer: unknown = null;
  private lastEventAt = -Infinity;
  private readonly pollMs: number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;
  private readonly now: () => number;

  /**
   * @param fetchJob the job as the server has it now, or null when there is no job to ask about
   * @param deliver hands a fetched job to the tracker (as if it came from the socket, but unheard)
   * @param active whether the tracker still waits for the job; polling stops when it does not
   */
  constructor(
    private readonly fetchJob: () => Promise<J> | null,
    private readonly deliver: (job: J) => void,
    private readonly active: () => boolean,
    options: PollOptions = {},
  ) {
    this.pollMs = options.pollMs ?? 2000;
    this.setTimer = options.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = options.clearTimer ?? ((handle) => clearTimeout(handle as ReturnType<typeof setTimeout>));
    this.now = options.now ?? (() => Date.now());
  }

  /** A socket message about the job arrived: no need to ask for a while. */
  heard(): void {
    this.lastEventAt = this.now();
  }

  /** Make sure a poll is scheduled. */
  ensure(): void {
    if (this.timer !== null) return;
    this.timer = this.setTimer(() => {
      this.timer = null;
      void this.tick();
    }, this.pollMs);
  }

  stop(): void {
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
  }

  private async tick(): Promise<void> {
    if (!this.active()) return;
    if (this.now() - this.lastEventAt < this.pollMs) {
      this.ensure(); // the socket is delivering
      return;
    }
    const pending = this.fetchJob();
    if (pending === null) return;
    try {
      this.deliver(await pending);
    } catch {
      /* a network blip: the next tick asks again */
    }
    if (this.active()) this.ensure();
  }
}
