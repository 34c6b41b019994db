// How a worker that claims work from the database polls (the webhook
// delivery worker, the log stream worker): a round now, the next one at once
// while rounds say there is more, otherwise after pollMs. A round that
// rejects (its claim failed: the database is unreachable) is logged, as an
// error the first time and as a warning while it lasts, and tried again at
// the next poll; nothing here throws into the process. runOnce() is also for
// tests, beside the timer. (The consumers that run on a fixed interval use
// background-loop.ts.)
import type { Logger } from "../log.ts";

/** An error as log fields: its message and SQLSTATE (never the error itself: pg attaches its client to it). */
export function errorFields(err: unknown): { error: string; code?: string } {
  const e = err as { message?: string; code?: string };
  return { error: e?.message ?? String(err), ...(e?.code ? { code: e.code } : {}) };
}

/** A worker's numeric option, checked: a whole number in [min, max], or a RangeError naming the worker and option. */
export function checkOption(worker: string, name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${worker}: ${name} must be a whole number between ${min} and ${max}, got ${value}`);
  }
  return value;
}

export interface PollLoopOptions<R> {
  log: Logger;
  pollMs: number;
  round: () => Promise<R>;
  /** Whether to poll again at once after this round (more may be due). */
  again: (result: R) => boolean;
  /** The worker in log lines, e.g. "webhook worker". */
  worker: string;
  /** What its round claims, e.g. "deliveries". */
  claims: string;
}

export class PollLoop<R> {
  private running = false;
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly rounds = new Set<Promise<unknown>>();
  /** Consecutive failed polls, to log the first failure as an error and the repeats as warnings. */
  private failedPolls = 0;

  private readonly options: PollLoopOptions<R>;

  constructor(options: PollLoopOptions<R>) {
    this.options = options;
  }

  /** Starts polling (once; false when it already runs or was stopped). */
  start(): boolean {
    if (this.running || this.stopped) return false;
    this.running = true;
    this.schedule(0);
    return true;
  }

  /** One round now, tracked so that stop() waits for it. */
  runOnce(): Promise<R> {
    const round = this.options.round();
    this.rounds.add(round);
    const forget = () => this.rounds.delete(round);
    round.then(forget, forget);
    return round;
  }

  /** Stops polling and waits for the rounds in flight, at most boundMs; resolves with how many still run. */
  async stop(boundMs: number): Promise<number> {
    this.running = false;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const bound = new Promise<void>((resolve) => setTimeout(resolve, boundMs).unref());
    await Promise.race([Promise.allSettled([...this.rounds]), bound]);
    return this.rounds.size;
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => void this.poll(), delayMs);
    // The server's listener keeps the process alive, not this timer.
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    this.timer = null;
    if (!this.running) return;
    const { log, worker, claims } = this.options;
    let again = false;
    try {
      again = this.options.again(await this.runOnce());
      if (this.failedPolls > 0) log.info({ failedPolls: this.failedPolls }, `${worker} reaches the database again`);
      this.failedPolls = 0;
    } catch (err) {
      this.failedPolls++;
      const fields = { ...errorFields(err), failedPolls: this.failedPolls };
      if (this.failedPolls === 1) log.error(fields, `${worker} cannot claim ${claims}; retrying at the next poll`);
      else log.warn(fields, `${worker} still cannot claim ${claims}`);
    }
    this.schedule(again ? 0 : this.options.pollMs);
  }
}
