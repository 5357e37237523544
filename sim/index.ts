// Public API of the simulator package (rugo-sim): the machine, decisions and
// sources, ops for guest code, and the code-image loader.
export { Machine, DEFAULT_MACHINE, type MachineConfig, type RunResult, type StopReason } from './machine.ts';
export { Decider, NominalSource, RandomSource, ReplaySource, Site, allSites, type Decision, type DecisionSource } from './decisions.ts';
export { PctSource } from './pct.ts';
export * from './ops.ts';
export { CodeImage, CodeMap } from './code.ts';
export { DEFAULT_COSTS, type CostModel } from './cost-model.ts';
export { ChromeTraceWriter, type TraceSink, type TraceHost } from './chrome-trace.ts';
export { RunMetrics, type MetricsSummary, type Timeline } from './metrics.ts';
export { Histogram, type HistogramSummary } from './histogram.ts';
export { combineObservers, type Observer } from './observer.ts';
export { TRACE_PORT, TraceEvent } from './x86/trace-port.ts';
