// Cost model: cycles charged per op. Each default cites its source or states
// its assumption; docs/architecture.md repeats the table. Jitter choices are
// decisions (Site.Jitter): 0 = no extra cycles.

export interface CostModel {
  /** L1-hit load or store (Intel optimization manual: 4-5 cycle load-to-use latency). */
  memAccess: number;
  /** Extra cycles for a TLB miss: a 4-level walk mostly hitting the paging-structure caches (assumption: 4 x 6 cycles). */
  tlbMissWalk: number;
  /** LOCK-prefixed RMW or XCHG with memory (Agner Fog's tables: ~18-25 cycles on recent cores). */
  atomic: number;
  /** IN/OUT to an emulated ISA device (assumption: ~0.15 us; real ISA I/O is ~1 us, QEMU/KVM exits cost ~1-2 us). */
  portIo: number;
  /** Uncached MMIO access to a device register (assumption: ~100 cycles). */
  mmio: number;
  /** CLI or STI (Agner Fog: a few cycles). */
  cliSti: number;
  /** PAUSE (Intel: ~140 cycles from Skylake on). */
  pause: number;
  /** Interrupt or exception delivery through an IDT gate (assumption: ~100 cycles, microcode + stack push). */
  intDelivery: number;
  /** IRETQ (assumption: ~60 cycles). */
  iret: number;
  /** Kernel stack switch (swtch: save/restore callee-saved registers, ret): ~30 cycles. */
  contextSwitch: number;
  /** MOV to/from a control register, INVLPG, LIDT, WRMSR/RDMSR (assumption: ~100 cycles, serializing). */
  privileged: number;
  /** RDTSC (Agner Fog: ~25 cycles). */
  rdtsc: number;
  /** REP MOVSB / STOSB: startup cycles plus one cycle per 16 bytes (fast-strings assumption). */
  repStartup: number;
  repBytesPerCycle: number;
  /** Extra cycles per jitter choice 1..n-1 (cache miss to L2, L3, DRAM; assumption). */
  jitterCycles: readonly number[];
  /** Instruction boundaries a deliverable interrupt may wait, per irq-delay choice (0 = lands at once). */
  irqDelayOps: readonly number[];
}

export const DEFAULT_COSTS: CostModel = {
  memAccess: 4,
  tlbMissWalk: 24,
  atomic: 20,
  portIo: 150,
  mmio: 100,
  cliSti: 3,
  pause: 140,
  intDelivery: 100,
  iret: 60,
  contextSwitch: 30,
  privileged: 100,
  rdtsc: 25,
  repStartup: 30,
  repBytesPerCycle: 16,
  jitterCycles: [0, 12, 40, 200],
  irqDelayOps: [0, 1, 3, 10],
};
