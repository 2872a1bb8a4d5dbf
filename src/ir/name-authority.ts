/**
 * Hands out names that no other value (or node) in the model uses. Names are scoped to the whole
 * model, subgraphs included, since ONNX forbids a subgraph to shadow an outer name.
 */
export class NameAuthority {
  private readonly used = new Set<string>();
  private readonly counters = new Map<string, number>();

  reserve(name: string): void {
    if (name) this.used.add(name);
  }

  /** Frees a name that nothing uses any more (after a rename), so it can be handed out again. */
  release(name: string): void {
    this.used.delete(name);
  }

  has(name: string): boolean {
    return this.used.has(name);
  }

  /** `base` itself when free, else `base_1`, `base_2`, ... */
  unique(base: string): string {
    const stem = base || 'v';
    if (!this.used.has(stem)) {
      this.used.add(stem);
      return stem;
    }
    let n = this.counters.get(stem) ?? 0;
    let name: string;
    do name = `${stem}_${++n}`;
    while (this.used.has(name));
    this.counters.set(stem, n);
    this.used.add(name);
    return name;
  }
}
