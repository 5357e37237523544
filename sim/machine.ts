// The machine: assembles CPUs, memory, buses and devices from a config, and
// runs the discrete-event loop. Time is integer cycles; events fire in
// (cycle, seq) order; each CPU has a local clock and the loop always advances
// the CPU that is furthest behind, so ops of different CPUs interleave in
// simulated-time order, with ties and near-ties (within the pick window)
// settled by the Pick decision. Every run has limits: maxCycles, a bounded
// event queue, a bounded frame depth, and a clear stop reason.
import { EventQueue, QueueFullError } from './event-queue.ts';
import { PhysicalMemory } from './memory.ts';
import { CodeMap, type CodeImage, type CodeEntry } from './code.ts';
import { Decider, type DecisionSource, NominalSource, ReplaySource, Site, type Decision, type PickContext } from './decisions.ts';
import { DEFAULT_COSTS, type CostModel } from './cost-model.ts';
import { HashKind, TraceHash } from './trace-hash.ts';
import { DEFAULT_CPU_HZ } from './time.ts';
import { Cpu, SimulatorError, TrapKind, type CpuHost, type Stack, type TrapFrame } from './x86/cpu.ts';
import { PortBus } from './x86/port-bus.ts';
import { MmioBus } from './x86/mmio-bus.ts';
import { Lapic, LAPIC_BASE, LAPIC_SIZE } from './x86/lapic.ts';
import { IoApic, IOAPIC_BASE, IOAPIC_SIZE, isaIrqToPin } from './x86/ioapic.ts';
import { Pit8254 } from './x86/pit8254.ts';
import { Pic8259Pair } from './x86/pic8259.ts';
import { Uart16550, COM1_BASE } from './x86/uart16550.ts';
import { DebugExit, DEBUG_EXIT_PORT } from './x86/debug-exit.ts';
import { TracePort, TRACE_PORT } from './x86/trace-port.ts';
import type { InterruptHost } from './x86/interrupt-host.ts';
import { limineHandoff, type BootModule, type MemmapEntry } from './x86/boot.ts';
import { PciBus, hostBridge } from './pci.ts';
import { attachVirtioBlk, type BlkDeviceConfig, type VirtioBlk } from './virtio/blk.ts';
import type { Observer } from './observer.ts';

/** CPUs a machine may have (the Limine MP handoff and the kernel are tested up to 8). */
export const MAX_CPUS = 8;

export type StopReason =
  | 'debug-exit' // the guest wrote isa-debug-exit
  | 'triple-fault' // a CPU shut down
  | 'max-cycles' // the run reached its cycle limit
  | 'all-halted' // every CPU halted and nothing can wake one
  | 'sim-error' // a simulator bug or a broken guest contract (e.g. a frame yielded a non-op)
  | 'guest-crash' // guest TypeScript code threw
  | 'replay-diverged' // a replayed decision was asked at a different site
  | 'checker' // a machine-level checker stopped the run
  | 'power-loss'; // a planned power failure (the disk's doom counter) cut the machine off

export interface MachineConfig {
  cpus: number;
  memoryBytes: number;
  cpuHz: number;
  maxCycles: number;
  kernel: CodeImage;
  entrySymbol: string;
  cmdline: string;
  modules: readonly BootModule[];
  decisions: DecisionSource;
  costs: CostModel;
  /** Max frames on one stack before a delivery becomes #DF. */
  maxFrameDepth: number;
  /** CPUs whose clocks are within this many cycles of the earliest compete in a Pick decision. */
  pickWindowCycles: number;
  /** Latency of an interrupt message on the APIC bus (IOAPIC -> LAPIC, IPIs), cycles (assumption). */
  apicLatencyCycles: number;
  /** Hard limit on pending events. */
  maxEvents: number;
  /** A virtio-blk disk on PCI bus 0 (none when absent). */
  disk?: BlkDeviceConfig;
}

export const DEFAULT_MACHINE: Omit<MachineConfig, 'kernel' | 'entrySymbol'> = {
  cpus: 1,
  memoryBytes: 128 * 1024 * 1024,
  cpuHz: DEFAULT_CPU_HZ,
  maxCycles: 10_000_000_000,
  cmdline: '',
  modules: [],
  decisions: new NominalSource(),
  costs: DEFAULT_COSTS,
  maxFrameDepth: 64,
  pickWindowCycles: 200,
  apicLatencyCycles: 50,
  maxEvents: 1 << 20,
};

export interface CpuStats {
  readonly index: number;
  readonly ops: number;
  readonly busyCycles: number;
  readonly idleCycles: number;
  readonly interrupts: number;
  readonly exceptions: number;
  readonly tlbHits: number;
  readonly tlbMisses: number;
}

export interface RunResult {
  readonly stopReason: StopReason;
  /** Human-readable detail: the exit status, the triple-fault cause, the error. */
  readonly message: string;
  readonly exitStatus: number | null;
  readonly cycles: number;
  readonly serial: string;
  readonly traceHash: string;
  readonly hashedEvents: number;
  readonly decisionCount: number;
  readonly decisions: readonly Decision[];
  /** Decisions asked per site id. */
  readonly decisionsPerSite: readonly number[];
  readonly events: number;
  readonly ops: number;
  readonly cpus: readonly CpuStats[];
  readonly unclaimedPortReads: number;
  readonly unclaimedPortWrites: number;
}

/** Machine-level checker hook: returns a message to stop the run, or null. */
export type Checker = (m: Machine) => string | null;

export class Machine implements CpuHost, InterruptHost {
  readonly cfg: MachineConfig;
  readonly mem: PhysicalMemory;
  readonly ports = new PortBus();
  readonly mmio = new MmioBus();
  readonly code = new CodeMap();
  readonly queue: EventQueue;
  readonly decider: Decider;
  readonly costs: CostModel;
  readonly hash = new TraceHash();
  readonly cpus: Cpu[] = [];
  readonly lapics: Lapic[] = [];
  readonly ioapic: IoApic;
  readonly pit: Pit8254;
  readonly pic: Pic8259Pair;
  readonly uart: Uart16550;
  /** The paravirtual trace port (always present; see trace-port.ts). */
  readonly tracePort: TracePort;
  /** PCI bus 0 (host bridge at 00:00.0; virtio-blk at 00:04.0 when a disk is configured). */
  readonly pci: PciBus;
  readonly blk: VirtioBlk | null = null;
  readonly memmap: readonly MemmapEntry[];
  readonly maxFrameDepth: number;
  readonly cpuHz: number;
  stopped = false;
  stopReason: StopReason | null = null;
  stopMessage = '';
  exitStatus: number | null = null;
  eventsRun = 0;
  private eventTime = 0;
  private active: Cpu | null = null;
  private serialChunks: string[] = [];
  private serialLine: number[] = [];
  /** Called for each byte the UART transmits (e.g. the CLI streams the console). */
  onSerialByte: ((byte: number) => void) | null = null;
  /** Called with each complete serial line (without the newline). */
  onSerialLine: ((line: string, cycles: number) => void) | null = null;
  observer: Observer | null = null;
  readonly checkers: Checker[] = [];
  /** Scratch list of Pick candidates (reused: no allocation per step). */
  private readonly pickCandidates: number[] = new Array<number>(MAX_CPUS + 1).fill(0);
  /** Pick contexts by candidate count. */
  private readonly pickCtx: ({ candidates: number[] } | undefined)[] = new Array<{ candidates: number[] } | undefined>(MAX_CPUS + 2).fill(undefined);

  constructor(cfg: MachineConfig) {
    validateConfig(cfg);
    this.cfg = cfg;
    this.cpuHz = cfg.cpuHz;
    this.costs = cfg.costs;
    this.maxFrameDepth = cfg.maxFrameDepth;
    this.mem = PhysicalMemory.acquire(cfg.memoryBytes);
    this.queue = new EventQueue(cfg.maxEvents);
    this.decider = new Decider(cfg.decisions);

    this.ioapic = new IoApic(this);
    this.mmio.map(IOAPIC_BASE, IOAPIC_SIZE, this.ioapic);
    this.pic = new Pic8259Pair();
    this.ports.claim(0x20, 2, this.pic);
    this.ports.claim(0xa0, 2, this.pic);
    this.pit = new Pit8254(this, () => this.isaIrq(0));
    this.ports.claim(0x40, 4, this.pit);
    this.ports.claim(0x61, 1, this.pit);
    this.uart = new Uart16550(
      COM1_BASE,
      (b) => this.serialByte(b),
      (level) => this.isaIrqLevel(4, level),
    );
    this.ports.claim(COM1_BASE, 8, this.uart);
    this.ports.claim(DEBUG_EXIT_PORT, 4, new DebugExit((status, value) => this.debugExit(status, value)));
    this.tracePort = new TracePort((cpu, code, arg) => this.guestEvent(cpu, code, arg));
    this.ports.claimFree(TRACE_PORT, 4, this.tracePort);
    this.pci = new PciBus((pin, level) => this.ioapic.setLine(pin, level));
    this.pci.install(this.ports, this.mmio, cfg.memoryBytes);
    this.pci.attach(0, hostBridge());
    if (cfg.disk !== undefined) {
      this.blk = attachVirtioBlk(this.pci, cfg.disk, {
        mem: this.mem,
        now: () => this.now(),
        at: (t, action) => this.at(t, action),
        hashDevice: (code, a) => this.hashDevice(code, a),
        decide: (site, n) => this.decider.decide(site, n),
        powerLoss: (message) => this.stop('power-loss', `MACHINE: ${message}`),
        stopForViolation: (message) => this.stop('checker', message),
      });
    }

    const boot = limineHandoff({
      mem: this.mem,
      code: this.code,
      kernel: cfg.kernel,
      entrySymbol: cfg.entrySymbol,
      cmdline: cfg.cmdline,
      modules: cfg.modules,
      cpus: cfg.cpus,
    });
    this.memmap = boot.memmap;
    // All local APICs sit at the same physical address; an access reaches the accessing CPU's own.
    const lapics = this.lapics;
    this.mmio.map(LAPIC_BASE, LAPIC_SIZE, {
      name: 'lapic',
      mmioRead: (off, size, cpu) => lapics[cpu].mmioRead(off, size),
      mmioWrite: (off, size, v, cpu) => lapics[cpu].mmioWrite(off, size, v),
    });
    for (let i = 0; i < cfg.cpus; i++) {
      const lapic = new Lapic(i, i, this);
      this.lapics.push(lapic);
      const stack = i === 0 ? boot.bspStack : boot.apStacks[i - 1];
      const cpu = new Cpu(i, i, lapic, this, stack, i === 0);
      cpu.mmu.cr3 = boot.pml4Phys;
      cpu.mmu.nxe = true;
      cpu.efer = 0xd00; // LME | LMA | NXE (Limine enables NX)
      this.cpus.push(cpu);
    }
  }

  // ---- CpuHost / InterruptHost -------------------------------------------

  now(): number {
    return this.active !== null ? this.active.time : this.eventTime;
  }

  at(atCycles: number, action: (nowCycles: number) => void): number {
    return this.queue.push(Math.max(atCycles, this.eventTime), action);
  }

  nextEventTime(): number {
    return this.queue.peekCycles();
  }

  lookupCode(pa: number): CodeEntry | undefined {
    return this.code.lookup(pa);
  }

  deliver(apicId: number, vector: number, level: boolean, fromCpu: number, excludeSelf: boolean): void {
    const raised = this.now();
    const when = raised + this.cfg.apicLatencyCycles;
    for (const l of this.lapics) {
      if (apicId !== 0xff && l.apicId !== apicId) continue;
      if (excludeSelf && l.cpuIndex === fromCpu) continue;
      this.at(when, () => l.accept(vector, level, raised));
    }
  }

  eoiBroadcast(vector: number): void {
    this.ioapic.eoi(vector);
  }

  hashDevice(code: number, a: number): void {
    this.hash.add(HashKind.Device, this.now(), code, a);
  }

  tripleFault(cpu: Cpu, message: string): void {
    cpu.dead = true;
    const why = cpu.lastDeliveryFailure ? `${message}; #DF was raised ${cpu.lastDeliveryFailure}` : message;
    this.stop('triple-fault', `MACHINE: triple fault on CPU ${cpu.index}: ${why}`);
  }

  onSwitch(cpu: Cpu, from: Stack, to: Stack): void {
    this.observer?.onSwitch(cpu.index, cpu.time, from, to);
  }

  onTrap(cpu: Cpu, tf: TrapFrame, handler: string): void {
    if (this.observer !== null) this.observer.onTrap(cpu.index, cpu.time, tf, handler, tf.kind === TrapKind.External ? cpu.lapic.raisedAt(tf.vector) : -1);
  }

  onIret(cpu: Cpu, tf: TrapFrame): void {
    this.observer?.onIret(cpu.index, cpu.time, tf);
  }

  onHalt(cpu: Cpu, halted: boolean): void {
    this.observer?.onHalt(cpu.index, cpu.time, halted);
  }

  // ---- devices -------------------------------------------------------------

  /** A paravirtual trace-port event: hashed always (so observers never change the hash), then observed. */
  private guestEvent(cpuIndex: number, code: number, arg: number): void {
    this.hash.add(HashKind.Device, this.now(), TRACE_PORT, (code << 24) | arg);
    this.observer?.onGuestEvent?.(cpuIndex, this.cpus[cpuIndex].time, code, arg);
  }

  /** Pulses ISA IRQ `irq` (edge): through the PIC (counted) and the IOAPIC (delivered). */
  isaIrq(irq: number): void {
    this.hash.add(HashKind.Irq, this.now(), irq, 1);
    this.pic.irq(irq);
    const pin = isaIrqToPin(irq);
    this.ioapic.setLine(pin, true);
    this.ioapic.setLine(pin, false);
  }

  /** Drives ISA IRQ `irq` to a level. */
  isaIrqLevel(irq: number, level: boolean): void {
    if (level) this.pic.irq(irq);
    this.ioapic.setLine(isaIrqToPin(irq), level);
  }

  private serialByte(b: number): void {
    this.hash.add(HashKind.Serial, this.now(), b, 0);
    this.onSerialByte?.(b);
    if (b === 0x0a) {
      const line = decodeLatin1(this.serialLine);
      this.serialLine = [];
      this.serialChunks.push(line + '\n');
      this.onSerialLine?.(line, this.now());
    } else this.serialLine.push(b);
  }

  /** Serial output so far (complete lines plus the pending partial line). */
  serialText(): string {
    return this.serialChunks.join('') + decodeLatin1(this.serialLine);
  }

  private debugExit(status: number, value: number): void {
    this.hash.add(HashKind.Exit, this.now(), value, 0);
    this.exitStatus = status;
    this.stop('debug-exit', `isa-debug-exit: value ${value}, status ${status}`);
  }

  /** Stops the run (first reason wins). */
  stop(reason: StopReason, message: string): void {
    if (this.stopped) return;
    this.stopped = true;
    this.stopReason = reason;
    this.stopMessage = message;
  }

  // ---- run loop ---------------------------------------------------------------

  /** Runs until a stop reason; returns the result. Never throws for guest behaviour. */
  run(): RunResult {
    try {
      this.loop();
    } catch (e) {
      const cpu = this.active;
      const where = cpu ? ` (CPU ${cpu.index}, frame ${cpu.stack.top.name}, cycle ${cpu.time})` : '';
      if (e instanceof SimulatorError || e instanceof QueueFullError) this.stop('sim-error', `${e.message}${where}`);
      else this.stop('guest-crash', `guest code threw: ${e instanceof Error ? e.message : String(e)}${where}`);
    }
    this.active = null;
    const src = this.decider.source;
    if (src instanceof ReplaySource && src.divergence !== null && this.stopReason !== 'replay-diverged') {
      // Noticed only at the end (the run stopped within the step that diverged): the replay still did not
      // follow its recording, whatever the run did next; the original stop goes into the message.
      const d = src.divergence;
      this.stopMessage = `replay diverged at decision #${d.at}: recorded at site ${d.expectedSite}, asked at site ${d.actualSite} (the run then stopped by ${this.stopReason}: ${this.stopMessage})`;
      this.stopReason = 'replay-diverged';
    }
    return this.result();
  }

  private loop(): void {
    const cpus = this.cpus;
    const n = cpus.length;
    const maxCycles = this.cfg.maxCycles;
    const replay = this.decider.source instanceof ReplaySource ? this.decider.source : null;
    for (;;) {
      if (this.stopped) return;
      // The running CPU furthest behind (ties: lowest index).
      let best: Cpu | null = null;
      let allStuck = true;
      for (let i = 0; i < n; i++) {
        const c = cpus[i];
        if (c.dead) continue;
        if (c.halted) {
          if (c.IF) allStuck = false;
          continue;
        }
        allStuck = false;
        if (best === null || c.time < best.time) best = c;
      }
      const tEv = this.queue.peekCycles();
      if (best === null || tEv <= best.time) {
        if (tEv === Infinity || allStuck) {
          this.finishIdle(allStuck);
          return;
        }
        if (tEv > maxCycles) {
          this.stopAtLimit();
          return;
        }
        this.eventTime = tEv;
        const action = this.queue.pop();
        this.eventsRun++;
        action(tEv);
        continue;
      }
      if (best.time > maxCycles) {
        this.stopAtLimit();
        return;
      }
      let cpu = best;
      let limit = tEv;
      if (n > 1) {
        // Other running CPUs near the earliest compete for the next op.
        const cands = this.pickCandidates; // the first nc entries are this step's candidates
        let nc = 0;
        let second = Infinity;
        const window = this.cfg.pickWindowCycles;
        for (let i = 0; i < n; i++) {
          const c = cpus[i];
          if (c.dead || c.halted || c === best) continue;
          if (c.time < second) second = c.time;
          if (c.time - best.time <= window) cands[nc++] = i;
        }
        if (nc > 0) {
          cands[nc++] = best.index;
          // Sort by (time, index): insertion sort in place (at most 8 CPUs; no comparator closure per op).
          for (let i = 1; i < nc; i++) {
            const x = cands[i];
            const tx = cpus[x].time;
            let j = i - 1;
            while (j >= 0 && (cpus[cands[j]].time > tx || (cpus[cands[j]].time === tx && cands[j] > x))) {
              cands[j + 1] = cands[j];
              j--;
            }
            cands[j + 1] = x;
          }
          const k = this.decider.decide(Site.Pick, nc, this.decider.source.ignoresPickContext === true ? undefined : this.pickContext(cands, nc));
          cpu = cpus[cands[k]];
          limit = cpu.time; // one op, then choose again
        } else if (second < limit) limit = second;
      }
      if (limit > maxCycles + 1) limit = maxCycles + 1;
      this.active = cpu;
      cpu.slice(limit);
      this.active = null;
      if (replay !== null && replay.divergence !== null) {
        const d = replay.divergence;
        this.stop('replay-diverged', `replay diverged at decision #${d.at}: recorded at site ${d.expectedSite}, asked at site ${d.actualSite}`);
        return;
      }
      for (let i = 0; i < this.checkers.length; i++) {
        const msg = this.checkers[i](this);
        if (msg !== null) {
          this.stop('checker', msg);
          return;
        }
      }
    }
  }

  /** The first `nc` candidates' thread ids for the decision source; one object per count, refilled for each pick (sources read it during choose only). */
  private pickContext(cands: readonly number[], nc: number): PickContext {
    let ctx = this.pickCtx[nc];
    if (ctx === undefined) {
      ctx = { candidates: new Array<number>(nc).fill(0) };
      this.pickCtx[nc] = ctx;
    }
    const ids = ctx.candidates;
    for (let i = 0; i < nc; i++) ids[i] = this.cpus[cands[i]].stack.id;
    return ctx;
  }

  private stopAtLimit(): void {
    this.eventTime = this.cfg.maxCycles;
    for (const c of this.cpus) if (c.time > this.cfg.maxCycles) c.time = this.cfg.maxCycles;
    this.stop('max-cycles', `reached the cycle limit (${this.cfg.maxCycles} cycles)`);
  }

  private finishIdle(interruptsOff: boolean): void {
    const t = Math.max(this.eventTime, ...this.cpus.map((c) => c.time));
    this.eventTime = t;
    this.stop('all-halted', interruptsOff ? 'every CPU halted with interrupts disabled (nothing can wake them)' : 'every CPU halted and no event is pending (nothing can wake them)');
  }

  /** Returns the machine's memory to the pool; the machine must not run again. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.mem.release();
  }
  private disposed = false;

  /** Final simulated time: the latest CPU clock or event time. */
  get cycles(): number {
    let t = this.eventTime;
    for (const c of this.cpus) if (c.time > t) t = c.time;
    return Math.min(t, this.cfg.maxCycles);
  }

  private result(): RunResult {
    const end = this.cycles;
    return {
      stopReason: this.stopReason ?? 'sim-error',
      message: this.stopMessage,
      exitStatus: this.exitStatus,
      cycles: end,
      serial: this.serialText(),
      traceHash: this.hash.hex(),
      hashedEvents: this.hash.events,
      decisionCount: this.decider.count,
      decisions: this.decider.recorded,
      decisionsPerSite: this.decider.perSite.slice(),
      events: this.eventsRun,
      ops: this.cpus.reduce((s, c) => s + c.ops, 0),
      cpus: this.cpus.map((c) => ({
        index: c.index,
        ops: c.ops,
        busyCycles: c.busyCycles(end),
        idleCycles: c.idleCyclesAt(end),
        interrupts: c.interrupts,
        exceptions: c.exceptions,
        tlbHits: c.mmu.tlbHits,
        tlbMisses: c.mmu.tlbMisses,
      })),
      unclaimedPortReads: this.ports.unclaimedReads,
      unclaimedPortWrites: this.ports.unclaimedWrites,
    };
  }
}

function decodeLatin1(bytes: number[]): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

/** Refuses a bad machine configuration up front, naming the field. */
export function validateConfig(cfg: MachineConfig): void {
  const int = (name: string, v: number, lo: number, hi: number): void => {
    if (!Number.isSafeInteger(v) || v < lo || v > hi) throw new RangeError(`machine config: ${name} must be an integer in ${lo}..${hi}, got ${String(v)}`);
  };
  int('cpus', cfg.cpus, 1, MAX_CPUS);
  int('memoryBytes', cfg.memoryBytes, 4 * 1024 * 1024, 4 * 1024 * 1024 * 1024);
  if (cfg.memoryBytes % 0x200000 !== 0) throw new RangeError('machine config: memoryBytes must be a multiple of 2 MiB');
  int('cpuHz', cfg.cpuHz, 1_000_000, 10_000_000_000);
  int('maxCycles', cfg.maxCycles, 1, Number.MAX_SAFE_INTEGER);
  int('maxFrameDepth', cfg.maxFrameDepth, 4, 4096);
  int('pickWindowCycles', cfg.pickWindowCycles, 0, 1_000_000);
}
