// Planted bugs as run options: --bug <name> adds bug=<name> and the bug's
// own workload options (os/bugs.ts), so every bug runs on the workload that
// exposes it.
import { BUGS, type PlantedBug } from '../os/bugs.ts';

export function findBug(name: string): PlantedBug | undefined {
  return BUGS.find((b) => b.name === name);
}

/** Kernel options for planting `name` (empty for no bug). */
export function bugOptions(name: string | undefined): string[] {
  if (name === undefined || name === '') return [];
  const b = findBug(name);
  if (b === undefined) throw new Error(`unknown bug '${name}'. Known: ${BUGS.map((x) => x.name).join(', ')}`);
  return [`bug=${name}`, ...(b.options ?? [])];
}
