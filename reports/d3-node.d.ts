// Types for d3-node 4 (it ships none): a jsdom document with d3 bound to it.
// d3 itself is typed loosely here; the charts use a small, stable part of it.
declare module 'd3-node' {
  export interface D3NodeOptions {
    selector?: string;
    container?: string;
    styles?: string;
  }
  export class D3Node {
    constructor(options?: D3NodeOptions);
    readonly d3: any;
    readonly document: any;
    readonly window: any;
    createSVG(width?: number, height?: number, attrs?: Record<string, string | number>): any;
    svgString(): string;
    html(): string;
  }
  export default D3Node;
}
