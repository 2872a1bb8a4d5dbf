import { accessSync, constants, lstatSync, readFileSync, statSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { OnnxOptError } from '../errors.js';

/**
 * stat/lstat that answers undefined for a path that cannot exist: missing, or under a regular
 * file (ENOTDIR, which `throwIfNoEntry: false` still throws).
 */
export function statPath(path: string, options: { lstat?: boolean } = {}): Stats | undefined {
  try {
    return (options.lstat ? lstatSync : statSync)(path, { throwIfNoEntry: false });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR' || (e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** "a character device", "a directory", …: what a path is, for messages. */
export function kindOf(st: Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a named pipe';
  if (st.isSocket()) return 'a socket';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

/**
 * Stats an input file (following symlinks) and refuses anything but a regular file: a device such
 * as /dev/zero never ends, a FIFO blocks, so neither may be read as a model, config or data file.
 */
export function statInputFile(path: string, options: { allowDirectory?: boolean } = {}): Stats {
  const st = statPath(path);
  if (!st) throw new OnnxOptError('FILE_NOT_FOUND', 'no such file', { file: path });
  if (st.isFile() || (options.allowDirectory && st.isDirectory())) return st;
  throw new OnnxOptError('USAGE', `is ${kindOf(st)}, not a regular file${options.allowDirectory ? ' or folder' : ''}`, { file: path });
}

/** Reads a small input file (config, scores): regular files only, size checked before reading. */
export function readInputFile(path: string, maxBytes: number): Buffer {
  const st = statInputFile(path);
  if (st.size > maxBytes) throw new OnnxOptError('USAGE', `is ${st.size} bytes; at most ${maxBytes} are read`, { file: path });
  try {
    return readFileSync(path);
  } catch (e) {
    throw new OnnxOptError('IO', `cannot read: ${(e as Error).message}`, { file: path, cause: e });
  }
}

/**
 * Checks, before anything is written, that `path` can become a regular file (or a folder, with
 * `folder`): it is not a directory, device or pipe, and its nearest existing ancestor is a writable
 * directory (a regular file there would make mkdir fail half-way).
 */
export function checkOutputPath(path: string, options: { folder?: boolean } = {}): void {
  const abs = resolve(path);
  const st = statPath(abs);
  if (st) {
    const wanted = options.folder ? st.isDirectory() : st.isFile();
    if (!wanted) throw new OnnxOptError('USAGE', `the output path is ${kindOf(st)}; it must be ${options.folder ? 'a folder' : 'a regular file or a new name'}`, { file: path });
    return;
  }
  // Nothing there (or a dangling symlink, which the rename replaces): its folder must be creatable.
  let ancestor = dirname(abs);
  for (;;) {
    const a = statPath(ancestor);
    if (a) {
      if (!a.isDirectory()) throw new OnnxOptError('USAGE', `cannot create the output: ${ancestor} is ${kindOf(a)}, not a folder`, { file: path });
      try {
        accessSync(ancestor, constants.W_OK);
      } catch {
        throw new OnnxOptError('USAGE', `cannot create the output: ${ancestor} is not writable`, { file: path });
      }
      return;
    }
    const up = dirname(ancestor);
    if (up === ancestor) return;
    ancestor = up;
  }
}

/** `dev:ino` of a path (following symlinks), or undefined: one file however many names it has. */
export function fileIdentity(path: string): string | undefined {
  try {
    const st = statSync(path, { throwIfNoEntry: false, bigint: true });
    return st ? `${st.dev}:${st.ino}` : undefined;
  } catch {
    return undefined;
  }
}
