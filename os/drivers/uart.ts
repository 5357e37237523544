// Polling driver for the 16550 UART at COM1 (the seed's serial console).
// Init follows the usual PC sequence: interrupts off, DLAB, divisor 1
// (115200 baud), 8N1, FIFOs on, DTR/RTS/OUT2. With the FIFOs on, LSR.THRE
// means the 16-byte transmit FIFO is empty, so each wait for THRE is
// followed by up to 16 bytes (as Linux's 8250 driver loads tx_loadsz bytes
// per THRE; 16550A datasheet, FIFO mode).
import { inb, outb, type Code } from '../../sim/ops.ts';

const COM1 = 0x3f8;
const LSR_THRE = 0x20;
/** Transmit FIFO depth of the 16550A. */
const TX_FIFO = 16;

export function* uartInit(): Code<void> {
  yield outb(COM1 + 1, 0x00); // IER: no interrupts
  yield outb(COM1 + 3, 0x80); // LCR: DLAB
  yield outb(COM1 + 0, 0x01); // DLL: divisor 1 = 115200 baud
  yield outb(COM1 + 1, 0x00); // DLM
  yield outb(COM1 + 3, 0x03); // LCR: 8N1
  yield outb(COM1 + 2, 0xc7); // FCR: enable + clear FIFOs, 14-byte threshold
  yield outb(COM1 + 4, 0x0b); // MCR: DTR, RTS, OUT2
}

/**
 * Writes `s` (Latin-1): waits for an empty transmit FIFO, then fills it,
 * until all is sent. Needs uartInit's FIFOs (the kernel runs it first).
 * Bounded wait: a dead UART drops the bytes.
 */
export function* uartWrite(s: string): Code<void> {
  for (let i = 0; i < s.length; ) {
    for (let spins = 0; spins < 1000; spins++) {
      const lsr: number = yield inb(COM1 + 5);
      if ((lsr & LSR_THRE) !== 0) break;
    }
    const end = Math.min(s.length, i + TX_FIFO);
    for (; i < end; i++) yield outb(COM1, s.charCodeAt(i) & 0xff);
  }
}
