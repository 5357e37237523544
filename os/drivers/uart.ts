// Polling driver for the 16550 UART at COM1 (the seed's serial console).
// Init follows the usual PC sequence: interrupts off, DLAB, divisor 1
// (115200 baud), 8N1, FIFOs on, DTR/RTS/OUT2. Each byte waits for LSR.THRE.
import { inb, outb, type Code } from '../../sim/ops.ts';

const COM1 = 0x3f8;
const LSR_THRE = 0x20;

export function* uartInit(): Code<void> {
  yield outb(COM1 + 1, 0x00); // IER: no interrupts
  yield outb(COM1 + 3, 0x80); // LCR: DLAB
  yield outb(COM1 + 0, 0x01); // DLL: divisor 1 = 115200 baud
  yield outb(COM1 + 1, 0x00); // DLM
  yield outb(COM1 + 3, 0x03); // LCR: 8N1
  yield outb(COM1 + 2, 0xc7); // FCR: enable + clear FIFOs, 14-byte threshold
  yield outb(COM1 + 4, 0x0b); // MCR: DTR, RTS, OUT2
}

/** Writes `s` byte by byte (Latin-1), waiting for the transmitter each time. Bounded wait: a dead UART drops the byte. */
export function* uartWrite(s: string): Code<void> {
  for (let i = 0; i < s.length; i++) {
    for (let spins = 0; spins < 1000; spins++) {
      const lsr: number = yield inb(COM1 + 5);
      if ((lsr & LSR_THRE) !== 0) break;
    }
    yield outb(COM1, s.charCodeAt(i) & 0xff);
  }
}
