// QEMU's isa-debug-exit device (hw/misc/debugexit.c), as the seed's QEMU line
// configures it: `-device isa-debug-exit,iobase=0xf4,iosize=0x04`. A write of
// `value` stops the machine with exit status (value << 1) | 1.
import type { PortDevice } from './port-bus.ts';

export const DEBUG_EXIT_PORT = 0xf4;

export class DebugExit implements PortDevice {
  readonly name = 'isa-debug-exit';
  constructor(private readonly onExit: (status: number, value: number) => void) {}

  portIn(): number {
    return 0xffffffff; // QEMU: reads are not implemented and return all ones
  }

  portOut(_port: number, size: number, value: number): void {
    const v = size === 1 ? value & 0xff : size === 2 ? value & 0xffff : value >>> 0;
    this.onExit(((v << 1) | 1) >>> 0, v);
  }
}
