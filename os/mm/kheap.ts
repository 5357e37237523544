// Kernel word heap: 4-byte words in simulated memory for what the hardware
// or other CPUs must see through memory ops (lock words, shared counters).
// Frames come from the frame allocator; words are handed out bump-style and
// never freed (locks and counters live as long as the kernel).
import type { Code } from '../../sim/ops.ts';
import type { Kernel } from '../kstate.ts';
import { allocZeroedFrame } from './paging.ts';

/** Returns the HHDM virtual address of a fresh zeroed, 4-byte-aligned word. */
export function* allocWord(k: Kernel): Code<number> {
  if (k.wordHeapNext === 0 || k.wordHeapNext % 4096 === 0) {
    const pa: number = yield allocZeroedFrame(k);
    k.wordHeapNext = k.p2v(pa);
  }
  const va = k.wordHeapNext;
  k.wordHeapNext += 4;
  return va;
}
