/**
 * The QuickJS-ng WebAssembly module, compiled once per process and instantiated once per sandbox generation
 * that needs a fresh one. Every instance gets its own `WebAssembly.Memory` with a hard maximum: QuickJS's own
 * malloc limit sits below it, and the maximum is what holds when that limit alone would not (measured: without
 * it a memory bomb grew the heap to 2 GiB). One instance per sandbox means one plugin's heap can never starve
 * another's.
 *
 * The module is read through `createRequire` and `node:fs`, which Node, Bun and Deno all provide. The WebAssembly
 * types are declared here rather than taken from a DOM lib, which this project does not compile against.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import variant from '@jitl/quickjs-ng-wasmfile-release-sync';
import { newQuickJSWASMModuleFromVariant, newVariant, type QuickJSSyncVariant, type QuickJSWASMModule } from 'quickjs-emscripten-core';

const WASM_FILE = '@jitl/quickjs-ng-wasmfile-release-sync/wasm';
const MIB = 1024 * 1024;
const PAGE_BYTES = 64 * 1024;
/** The module declares 256 pages as its minimum: a 5 MiB C stack, static data, and the start of the heap. */
const BASE_PAGES = 256;
/** A 32-bit WebAssembly memory holds at most 4 GiB. */
const MAX_PAGES = 65536;
/** Below the heap: the module's data and its 5 MiB C stack (the heap starts a little past 5 MiB). */
const BELOW_HEAP_MIB = 6;

export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmApi {
  compile(bytes: Uint8Array): Promise<object>;
  Memory: new (descriptor: { initial: number; maximum: number }) => WasmMemory;
}
// The package's types describe its CommonJS face (the variant under `.default`); the ESM import is the variant.
const ngVariant = variant as unknown as QuickJSSyncVariant;
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let compiled: Promise<object> | undefined;

/** Read and compile the .wasm once; a failure is not cached, so a later create() may try again. */
function compiledModule(): Promise<object> {
  compiled ??= readFile(createRequire(import.meta.url).resolve(WASM_FILE))
    .then((bytes) => wasm.compile(bytes))
    .catch((e: unknown) => {
      compiled = undefined;
      throw e;
    });
  return compiled;
}

export interface WasmInstance {
  quickjs: QuickJSWASMModule;
  memory: WasmMemory;
  /** The hard ceiling of this instance's memory, in bytes. */
  maxBytes: number;
}

/**
 * The ceiling for a sandbox whose heap is capped at `memoryMb`: what lies below the heap, then the cap and a
 * tenth more for malloc's own bookkeeping; always above the module's minimum, so that growing to the ceiling
 * (how a breach shows) can be told from a fresh instance.
 */
export function ceilingPages(memoryMb: number): number {
  const bytes = (BELOW_HEAP_MIB + memoryMb * 1.1) * MIB;
  return Math.min(MAX_PAGES, Math.max(BASE_PAGES + 16, Math.ceil(bytes / PAGE_BYTES)));
}

export async function instantiate(memoryMb: number): Promise<WasmInstance> {
  const wasmModule = await compiledModule();
  const maximum = ceilingPages(memoryMb);
  const memory = new wasm.Memory({ initial: BASE_PAGES, maximum });
  // Emscripten prints an abort (a failed assertion inside QuickJS) to the console itself; routr logs through pino,
  // and the abort reaches the engine as the exception it also throws.
  const silent = { print: () => undefined, printErr: () => undefined };
  const quickjs = await newQuickJSWASMModuleFromVariant(
    newVariant(ngVariant, { wasmMemory: memory as never, wasmModule: wasmModule as never, emscriptenModule: silent as never }),
  );
  return { quickjs, memory, maxBytes: maximum * PAGE_BYTES };
}
