import { OnnxOptError } from '../errors.js';

/**
 * A parsed pipeline element: `name{key=value,...}` or `name{...}(child,child)` for groups such as
 * `fixed-point{max-steps=8}(cse,dce)`. Option values stay as written; validation is separate.
 */
export interface PipelineElement {
  name: string;
  options: [key: string, value: string][];
  children?: PipelineElement[];
  /** 0-based offset of the name in the pipeline text, for error messages. */
  position: number;
}

class Parser {
  pos = 0;
  constructor(readonly text: string) {}

  fail(message: string, at = this.pos): never {
    throw pipelineError(this.text, message, at);
  }

  skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos]!)) this.pos++;
  }

  peek(): string | undefined {
    this.skipSpace();
    return this.text[this.pos];
  }

  expect(ch: string): void {
    if (this.peek() !== ch) this.fail(this.pos >= this.text.length ? `expected '${ch}' but the pipeline ended` : `expected '${ch}' but found '${this.text[this.pos]}'`);
    this.pos++;
  }

  name(what: string): string {
    this.skipSpace();
    const m = /^[A-Za-z_][A-Za-z0-9_.-]*/.exec(this.text.slice(this.pos));
    if (!m) this.fail(this.pos >= this.text.length ? `expected a ${what} but the pipeline ended` : `expected a ${what} but found '${this.text[this.pos]}'`);
    this.pos += m[0].length;
    return m[0];
  }

  /** A value: a list `[...]` (nested allowed) or a bare scalar up to `,` `}` `]`. */
  value(): string {
    this.skipSpace();
    if (this.text[this.pos] === '[') {
      this.pos++;
      const items: string[] = [];
      if (this.peek() !== ']') {
        for (;;) {
          items.push(this.value());
          if (this.peek() === ',') {
            this.pos++;
            continue;
          }
          break;
        }
      }
      this.expect(']');
      return `[${items.join(',')}]`;
    }
    const m = /^[^,{}()[\]=\s]+/.exec(this.text.slice(this.pos));
    if (!m) this.fail(`expected a value but found '${this.text[this.pos] ?? 'the end'}'`);
    this.pos += m[0].length;
    return m[0];
  }

  element(): PipelineElement {
    this.skipSpace();
    const position = this.pos;
    const name = this.name('pass name');
    const options: [string, string][] = [];
    if (this.peek() === '{') {
      this.pos++;
      if (this.peek() !== '}') {
        for (;;) {
          const keyAt = this.pos;
          const key = this.name('option name');
          if (options.some(([k]) => k === key)) this.fail(`option '${key}' is given twice`, keyAt);
          this.expect('=');
          options.push([key, this.value()]);
          if (this.peek() === ',') {
            this.pos++;
            continue;
          }
          break;
        }
      }
      this.expect('}');
    }
    let children: PipelineElement[] | undefined;
    if (this.peek() === '(') {
      this.pos++;
      children = this.list(')');
      this.expect(')');
    }
    return { name, options, position, ...(children ? { children } : {}) };
  }

  list(end: string | undefined): PipelineElement[] {
    const out: PipelineElement[] = [];
    if (this.peek() === end) return out;
    for (;;) {
      out.push(this.element());
      if (this.peek() === ',') {
        this.pos++;
        continue;
      }
      break;
    }
    return out;
  }
}

export function pipelineError(text: string, message: string, at: number): OnnxOptError {
  return new OnnxOptError('PIPELINE', `pipeline "${text}": ${message} (at column ${at + 1})`);
}

/** Parses pipeline text. The empty string is the empty pipeline. */
export function parsePipeline(text: string): PipelineElement[] {
  const p = new Parser(text);
  if (p.peek() === undefined) return [];
  const elements = p.list(undefined);
  if (p.peek() !== undefined) p.fail(`unexpected '${text[p.pos]}'`);
  return elements;
}

/** Prints elements back; `printPipeline(parsePipeline(s)) === s` for canonically spaced text. */
export function printPipeline(elements: readonly PipelineElement[]): string {
  return elements
    .map((e) => {
      const opts = e.options.length ? `{${e.options.map(([k, v]) => `${k}=${v}`).join(',')}}` : '';
      const kids = e.children ? `(${printPipeline(e.children)})` : '';
      return `${e.name}${opts}${kids}`;
    })
    .join(',');
}
