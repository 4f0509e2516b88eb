// Time as a seam: the log layer asks a Clock for the wall time instead of calling Date.now(), so tests
// (and the disk simulation) can move time by hand for segment.ms rolls, retention and flush.ms.

export interface Clock {
  /** Milliseconds since the epoch (wall time: compared with record timestamps). */
  nowMs(): number;
}

export const systemClock: Clock = { nowMs: () => Date.now() };

/** A clock that only moves when told to (tests). */
export class ManualClock implements Clock {
  constructor(private currentMs = 0) {}

  nowMs(): number {
    return this.currentMs;
  }

  advance(deltaMs: number): void {
    if (!(deltaMs >= 0)) throw new RangeError(`clock cannot move back (${deltaMs} ms)`);
    this.currentMs += deltaMs;
  }

  set(nowMs: number): void {
    this.currentMs = nowMs;
  }
}
