/**
 * Records the largest single buffer allocation a fuzz case makes, so that a reader allocating a
 * declared size before the data proves it exists is caught even when the allocation succeeds
 * (zero-filled pages cost no memory until touched, so RSS would not show it). Patches the global
 * typed-array / ArrayBuffer constructors and Buffer.alloc*; installed only in fuzz child processes.
 */
let largest = 0;
let installed = false;

function note(bytes: number): void {
  if (bytes > largest) largest = bytes;
}

export function installAllocationTracker(): void {
  if (installed) return;
  installed = true;
  const g = globalThis as unknown as Record<string, unknown>;
  const typed = ['Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array', 'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array'];
  for (const name of typed) {
    const C = g[name] as { BYTES_PER_ELEMENT: number } & (new (...a: unknown[]) => object);
    g[name] = new Proxy(C, {
      construct(target, args, newTarget) {
        if (typeof args[0] === 'number') note(args[0] * target.BYTES_PER_ELEMENT);
        return Reflect.construct(target, args, newTarget);
      },
    });
  }
  for (const name of ['ArrayBuffer', 'SharedArrayBuffer']) {
    const C = g[name] as new (...a: unknown[]) => object;
    g[name] = new Proxy(C, {
      construct(target, args, newTarget) {
        if (typeof args[0] === 'number') note(args[0]);
        return Reflect.construct(target, args, newTarget);
      },
    });
  }
  for (const name of ['alloc', 'allocUnsafe', 'allocUnsafeSlow'] as const) {
    const f = Buffer[name] as (size: number, ...rest: unknown[]) => Buffer;
    (Buffer as unknown as Record<string, unknown>)[name] = function (size: number, ...rest: unknown[]) {
      if (typeof size === 'number') note(size);
      return f.call(Buffer, size, ...rest);
    };
  }
}

/** Largest allocation since the last reset, in bytes. */
export function takeLargestAllocation(): number {
  const n = largest;
  largest = 0;
  return n;
}
