import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * The last good supergraph on disk: plain SDL, so the file can also be served with the `file` source.
 * Written to a sibling and renamed over the old copy, so a reader (or a crash mid-write) never sees
 * half a file.
 */
export function writeDiskCopy(path: string, sdl: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    writeFileSync(temp, sdl, { flush: true });
    renameSync(temp, path);
  } catch (error) {
    try {
      unlinkSync(temp);
    } catch {
      // the temp file was never written, or is already gone
    }
    throw error;
  }
}

/** The copy and when it was written; undefined when there is none. */
export function readDiskCopy(path: string): { sdl: string; savedAt: Date } | undefined {
  let sdl: string;
  try {
    sdl = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  if (!sdl.trim()) return undefined;
  return { sdl, savedAt: statSync(path).mtime };
}
