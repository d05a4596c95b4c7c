// The part of the WebAssembly JS API that ./instance.ts and ./helper-thread.ts use. Node has it at run time, but neither the ES2022 lib
// nor @types/node 20 declares it (TypeScript puts it in the DOM lib, which the server must not see).
declare namespace WebAssembly {
  type Exports = Record<string, unknown>;
  interface MemoryDescriptor {
    initial: number;
    maximum?: number;
    shared?: boolean;
  }
  interface ModuleImportDescriptor {
    module: string;
    name: string;
    kind: string;
  }
  class Memory {
    constructor(descriptor: MemoryDescriptor);
    readonly buffer: ArrayBuffer | SharedArrayBuffer;
  }
  class Module {
    constructor(bytes: ArrayBufferView | ArrayBuffer);
    static imports(module: Module): ModuleImportDescriptor[];
    static exports(module: Module): Array<{ name: string; kind: string }>;
  }
  class Instance {
    constructor(module: Module, imports?: Record<string, Record<string, unknown>>);
    readonly exports: Exports;
  }
}
