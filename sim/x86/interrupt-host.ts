// What the interrupt controllers and timers need from the machine: the
// clock, the event queue, and a way to reach the local APICs.

export interface InterruptHost {
  /** Core clock frequency (cycles per second). */
  readonly cpuHz: number;
  /** Current simulated cycle (the time of the access or event being processed). */
  now(): number;
  /** Schedules `action` at absolute cycle `atCycles`. */
  at(atCycles: number, action: (nowCycles: number) => void): number;
  /** Delivers a fixed-mode interrupt `vector` to the local APIC with APIC ID `apicId` (0xff = broadcast) after the bus latency. */
  deliver(apicId: number, vector: number, level: boolean, fromCpu: number, excludeSelf: boolean): void;
  /** A local APIC signalled EOI for a level-triggered vector (broadcast to the IOAPIC). */
  eoiBroadcast(vector: number): void;
  /** Records a device-level event in the trace hash. */
  hashDevice(code: number, a: number): void;
}
