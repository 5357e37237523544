// Physical frame allocator, fed by the bootloader's memory map: every
// USABLE region above 1 MiB, 4 KiB frames. A bitmap records which frames are
// allocated so that a double free or a free of a frame never handed out is
// caught (a broken invariant panics; DESIGN.md, xv6 style).
// Lock rule: callers hold the kernel's pmm lock on SMP (see os/sync).
import type { MemRegion } from '../boot/handoff.ts';

const USABLE = 0;
const FRAME = 4096;
const LOW_LIMIT = 0x100000;

export class FrameAllocator {
  private readonly ranges: { next: number; end: number }[] = [];
  private readonly freeList: number[] = [];
  private readonly used: Uint8Array;
  private readonly top: number;
  allocated = 0;
  readonly totalFrames: number;
  /** Fault injection (fault plan failalloc=a,b,...): allocation numbers (counted once armed) that fail. */
  private failAt: Set<number> = new Set();
  private armedCount = -1;
  injectedFailures = 0;

  /** Arms allocation-failure injection: the n-th allocation from now (1-based) fails for each n in `at`. */
  armFailures(at: readonly number[]): void {
    this.failAt = new Set(at);
    this.armedCount = 0;
  }

  constructor(memmap: readonly MemRegion[]) {
    let top = 0;
    let total = 0;
    for (const r of memmap) {
      if (r.type !== USABLE) continue;
      const start = Math.max(LOW_LIMIT, Math.ceil(r.base / FRAME) * FRAME);
      const end = Math.floor((r.base + r.length) / FRAME) * FRAME;
      if (end <= start) continue;
      this.ranges.push({ next: start, end });
      total += (end - start) / FRAME;
      top = Math.max(top, end);
    }
    this.top = top;
    this.totalFrames = total;
    this.used = new Uint8Array(top / FRAME);
  }

  /** Frames still available. */
  get freeFrames(): number {
    return this.totalFrames - this.allocated;
  }

  /** Allocates one frame; returns its physical address, or -1 when memory is exhausted. */
  alloc(): number {
    if (this.armedCount >= 0) {
      this.armedCount++;
      if (this.failAt.has(this.armedCount)) {
        this.injectedFailures++;
        return -1;
      }
    }
    let pa = -1;
    if (this.freeList.length > 0) pa = this.freeList.pop()!;
    else {
      for (const r of this.ranges) {
        if (r.next < r.end) {
          pa = r.next;
          r.next += FRAME;
          break;
        }
      }
    }
    if (pa < 0) return -1;
    this.used[pa / FRAME] = 1;
    this.allocated++;
    return pa;
  }

  /** Frees frame `pa`; returns an error message for a bad free (the caller panics). */
  free(pa: number): string | null {
    if (pa % FRAME !== 0 || pa < LOW_LIMIT || pa >= this.top) return `pmm: free of bad frame 0x${pa.toString(16)}`;
    if (this.used[pa / FRAME] === 0) return `pmm: double free of frame 0x${pa.toString(16)}`;
    this.used[pa / FRAME] = 0;
    this.allocated--;
    this.freeList.push(pa);
    return null;
  }

  isAllocated(pa: number): boolean {
    return this.used[Math.floor(pa / FRAME)] === 1;
  }
}
