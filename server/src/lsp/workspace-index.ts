/**
 * The workspace index: which files PruneLens has something to say about.
 *  - TF.js layers models: `*.json` files whose `format` is `layers-model` or whose `modelTopology` is a
 *    Keras config (the scan looks at files named `model.json` / `*.model.json`; any other .json is
 *    classified when it is opened);
 *  - binary models the engine reads: `*.onnx`, Keras `*.keras` / `*.h5` (classified by name: a broken one is
 *    still reported as a broken model; the read itself happens later, off the scan, in the server's check);
 *  - pipeline configs: `*.prunelens.yaml|yml|json`;
 *  - Python files that build Keras or PyTorch convolutional models (parsed, not pattern-matched).
 * Unreadable folders and files are skipped (the scan never throws); huge files are classified by name only.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { MAX_MODEL_JSON_BYTES } from '../engine/formats/tfjs-layers/read-artifacts';
import { CACHE_FOLDER } from './analysis-cache';
import { isConfigPath } from './config-document';
import { definesModel, parsePythonModel } from './python-source';

export type FileKind = 'model' | 'config' | 'python';

/** Python files above this size are not parsed by the scan (generated code, not a model definition). */
const MAX_PYTHON_BYTES = 2 * 1024 * 1024;
const MAX_ENTRIES = 20000;
const SKIP_DIRS = new Set(['node_modules', '.git', CACHE_FOLDER, '__pycache__', '.venv', 'venv', 'site-packages']);

export function isModelJsonName(p: string): boolean {
  const base = path.basename(p).toLowerCase();
  return base === 'model.json' || base.endsWith('.model.json');
}

/** Binary model files: no text positions, so their verdicts go on the Python source that names them. */
const BINARY_MODEL_EXT = /\.(onnx|keras|h5)$/i;
/** PyTorch checkpoints: a model only through the ONNX export beside them (the link the engine uses). */
const TORCH_EXT = /\.(pt|pth)$/i;

export function isBinaryModelName(p: string): boolean {
  return BINARY_MODEL_EXT.test(p);
}

/**
 * The model file a path names (a `# prunelens-model:` comment, a config's `model`): a `.json` or binary model
 * as it is; a `.pt`/`.pth` the ONNX export beside it (`net.pt` → `net.onnx`); anything else a folder holding
 * a `model.json`.
 */
export function modelFileOf(p: string): string {
  if (p.toLowerCase().endsWith('.json') || isBinaryModelName(p)) return p;
  if (TORCH_EXT.test(p)) return p.replace(TORCH_EXT, '.onnx');
  return path.join(p, 'model.json');
}

/** How messages name a model: a binary file by its name, a model.json by its folder. */
export function modelLabel(p: string): string {
  return isBinaryModelName(p) ? path.basename(p) : path.basename(path.dirname(p));
}

/** True when parsed JSON is a TF.js layers model (the same rule as the engine reader's cheap check). */
export function looksLikeLayersModel(json: unknown): boolean {
  if (!json || typeof json !== 'object' || Array.isArray(json)) return false;
  const obj = json as Record<string, unknown>;
  const topo = obj.modelTopology as Record<string, unknown> | undefined;
  if (!topo || typeof topo !== 'object') return false;
  if (obj.format === 'layers-model') return true;
  const cfg = (topo.model_config ?? topo) as Record<string, unknown>;
  return typeof cfg.class_name === 'string' && typeof cfg.config === 'object';
}

/**
 * Whether a `.json` file (or the editor's text of it) is a TF.js layers model. Parses the whole file, up to the
 * model.json limit: the server runs this in its model-read worker, not on its own thread. Never throws.
 */
export async function classifyJsonFile(file: string, text?: string): Promise<FileKind | null> {
  try {
    if (text === undefined) {
      const st = await fs.stat(file);
      // Not a regular file (FIFO, device): never read; named like a model, the reader's refusal is its diagnostic.
      if (!st.isFile()) return isModelJsonName(file) ? 'model' : null;
      // A model.json over the engine's limit is still a model: the engine's refusal becomes its diagnostic.
      if (st.size > MAX_MODEL_JSON_BYTES) return isModelJsonName(file) ? 'model' : null;
      text = await fs.readFile(file, 'utf8');
    }
    try {
      return looksLikeLayersModel(JSON.parse(text)) ? 'model' : null;
    } catch {
      // Malformed JSON named like a model is reported as a broken model rather than ignored.
      return isModelJsonName(file) ? 'model' : null;
    }
  } catch {
    return null;
  }
}

/** How `.json` files are classified: in the calling thread by default, through the model-read worker in the server. */
export type JsonClassifier = (file: string, text?: string) => Promise<FileKind | null>;

/** Classifies one file from its name and (for .json and .py) its content. Never throws. */
export async function classifyFile(
  file: string,
  text?: string,
  classifyJson: JsonClassifier = classifyJsonFile,
): Promise<FileKind | null> {
  try {
    if (isConfigPath(file)) return 'config';
    if (isBinaryModelName(file)) return (await fs.stat(file)).isFile() ? 'model' : null;
    const lower = file.toLowerCase();
    if (lower.endsWith('.json')) return await classifyJson(file, text);
    if (lower.endsWith('.py')) {
      if (text === undefined) {
        const st = await fs.stat(file);
        if (!st.isFile() || st.size > MAX_PYTHON_BYTES) return null;
        text = await fs.readFile(file, 'utf8');
      }
      return definesModel(parsePythonModel(text)) ? 'python' : null;
    }
  } catch {
    return null;
  }
  return null;
}

export class WorkspaceIndex {
  readonly files = new Map<string, FileKind>();

  of(kind: FileKind): string[] {
    return [...this.files]
      .filter(([, k]) => k === kind)
      .map(([f]) => f)
      .sort();
  }

  set(file: string, kind: FileKind | null): void {
    if (kind) this.files.set(file, kind);
    else this.files.delete(file);
  }

  /** Walks the folders and classifies candidates; returns the number of files indexed. */
  async scan(folders: string[], classifyJson: JsonClassifier = classifyJsonFile): Promise<number> {
    let seen = 0;
    const candidates: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await fs.readdir(dir, { withFileTypes: true });
      } catch {
        return; // unreadable folder: skipped
      }
      for (const e of entries) {
        if (++seen > MAX_ENTRIES) return;
        const p = path.join(dir, e.name);
        if (e.isDirectory()) {
          if (!SKIP_DIRS.has(e.name) && !e.name.startsWith('.')) await walk(p);
        } else if (e.isFile() && (isModelJsonName(p) || isBinaryModelName(p) || isConfigPath(p) || p.endsWith('.py')))
          candidates.push(p);
      }
    };
    for (const f of folders) await walk(f);
    for (const file of candidates) this.set(file, await classifyFile(file, undefined, classifyJson));
    return this.files.size;
  }
}
