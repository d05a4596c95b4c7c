/**
 * Model definitions in Python source, read with a real parser (@lezer/python): Keras
 * `layers.Conv2D(64, 3, name=...)` / `Conv2D(filters=64, ...)` and PyTorch `nn.Conv2d(32, 64, 3)` /
 * `nn.Conv2d(in_channels=32, out_channels=64, ...)`, plus PyTorch `BatchNorm2d(num_features)` so a width
 * change can follow through. Calls are returned in source order, which is what order-based mapping uses.
 */
import { parser } from '@lezer/python';
import type { SyntaxNode } from '@lezer/common';

export type Framework = 'keras' | 'torch';

/** One argument's value node; `value` is null when it is not a plain integer literal. */
export interface ArgRef {
  value: number | null;
  from: number;
  to: number;
}

export interface SourceConv {
  framework: Framework;
  /** The class called, e.g. `Conv2D`, `Conv2DTranspose`, `Conv2d`. */
  callee: string;
  from: number;
  to: number;
  /** Keras `filters` / PyTorch `out_channels`. */
  width: ArgRef | null;
  /** PyTorch `in_channels` (Keras infers it). */
  inChannels: ArgRef | null;
  /** Keras `name="..."` when it is a string literal. */
  name?: string;
  /** The name it is assigned to (`self.enc1_conv1 = nn.Conv2d(…)` → `enc1_conv1`), PyTorch's layer naming. */
  attr?: string;
}

export interface SourceBatchNorm {
  from: number;
  to: number;
  numFeatures: ArgRef | null;
  attr?: string;
}

/** PyTorch `nn.Linear(in_features, out_features)`: its input width follows a pruned conv before Flatten. */
export interface SourceLinear {
  from: number;
  to: number;
  inFeatures: ArgRef | null;
  outFeatures: ArgRef | null;
  attr?: string;
}

/**
 * PyTorch `nn.MaxUnpool2d(…)` / `F.max_unpool2d(…)`: unpooling with pooling indices needs its input to have the
 * width of the pooled tensor the indices came from, a tie between two layers' widths that no model graph
 * records (TF.js and Keras have no such layer), so a width fix cannot know it and must not be offered.
 */
export interface SourceUnpool {
  callee: string;
  from: number;
  to: number;
  attr?: string;
}

export interface PythonModelSource {
  frameworks: Framework[];
  convs: SourceConv[];
  batchNorms: SourceBatchNorm[];
  linears: SourceLinear[];
  unpools: SourceUnpool[];
  /** `# prunelens-model: <path>` comment: the model this file defines, relative to the file. */
  modelDirective?: { path: string; from: number; to: number };
  /** The parser recovered from syntax errors (results may be partial). */
  hasErrors: boolean;
}

const KERAS_CONVS = new Set(['Conv2D', 'Convolution2D', 'Conv2DTranspose', 'SeparableConv2D']);
const TORCH_CONVS = new Set(['Conv2d', 'ConvTranspose2d']);
const TORCH_UNPOOLS = new Set(['MaxUnpool2d', 'max_unpool2d']);
const DIRECTIVE = 'prunelens-model:';

function calleeName(node: SyntaxNode, text: string): string | null {
  if (node.name === 'VariableName') return text.slice(node.from, node.to);
  if (node.name === 'MemberExpression') {
    const last = node.lastChild;
    return last && last.name === 'PropertyName' ? text.slice(last.from, last.to) : null;
  }
  return null;
}

interface Args {
  positional: SyntaxNode[];
  keywords: Map<string, SyntaxNode>;
  /** `*args` / `**kwargs` seen: positional indices after it are unknown. */
  starred: boolean;
}

function readArgs(argList: SyntaxNode, text: string): Args {
  const out: Args = { positional: [], keywords: new Map(), starred: false };
  let group: SyntaxNode[] = [];
  const flush = (): void => {
    if (group.length === 3 && group[0].name === 'VariableName' && group[1].name === 'AssignOp') {
      out.keywords.set(text.slice(group[0].from, group[0].to), group[2]);
    } else if (group.length === 1 && !out.starred) out.positional.push(group[0]);
    else if (group.length > 0) out.starred = true;
    group = [];
  };
  for (let c = argList.firstChild; c; c = c.nextSibling) {
    if (c.name === '(' || c.name === ')') continue;
    if (c.name === ',') flush();
    else if (c.name !== 'Comment') group.push(c);
  }
  flush();
  return out;
}

function argRef(node: SyntaxNode | undefined, text: string): ArgRef | null {
  if (!node) return null;
  const raw = text.slice(node.from, node.to);
  // An integer literal token (decimal, underscores allowed) is something we can rewrite; anything else is not.
  const isInt = node.name === 'Number' && /^[0-9][0-9_]*$/.test(raw);
  return { value: isInt ? Number(raw.replace(/_/g, '')) : null, from: node.from, to: node.to };
}

/** `self.x = Call(…)` / `x = Call(…)`: the assigned name, when the call is the whole right-hand side. */
function assignedName(call: SyntaxNode, text: string): string | undefined {
  const parent = call.parent;
  if (!parent || parent.name !== 'AssignStatement' || parent.lastChild?.from !== call.from) return undefined;
  const target = parent.firstChild;
  if (!target) return undefined;
  if (target.name === 'VariableName') return text.slice(target.from, target.to);
  if (target.name === 'MemberExpression' && target.lastChild?.name === 'PropertyName')
    return text.slice(target.lastChild.from, target.lastChild.to);
  return undefined;
}

function importsOf(node: SyntaxNode, text: string): string[] {
  const names: string[] = [];
  for (let c = node.firstChild; c; c = c.nextSibling)
    if (c.name === 'VariableName') names.push(text.slice(c.from, c.to));
  return names;
}

export function parsePythonModel(text: string): PythonModelSource {
  const tree = parser.parse(text);
  const result: PythonModelSource = {
    frameworks: [],
    convs: [],
    batchNorms: [],
    linears: [],
    unpools: [],
    hasErrors: false,
  };
  const frameworks = new Set<Framework>();
  tree.iterate({
    enter: (ref) => {
      const node = ref.node;
      if (ref.type.isError) result.hasErrors = true;
      if (ref.name === 'Comment') {
        const body = text.slice(ref.from + 1, ref.to).trim();
        if (body.startsWith(DIRECTIVE) && !result.modelDirective) {
          result.modelDirective = { path: body.slice(DIRECTIVE.length).trim(), from: ref.from, to: ref.to };
        }
        return false;
      }
      if (ref.name === 'ImportStatement') {
        const names = importsOf(node, text);
        if (names.includes('torch')) frameworks.add('torch');
        if (names.includes('keras') || names.includes('tensorflow')) frameworks.add('keras');
        return false;
      }
      if (ref.name !== 'CallExpression') return;
      const fn = node.firstChild;
      const argList = node.lastChild;
      if (!fn || !argList || argList.name !== 'ArgList') return;
      const name = calleeName(fn, text);
      if (!name) return;
      if (KERAS_CONVS.has(name) || TORCH_CONVS.has(name)) {
        const args = readArgs(argList, text);
        const keras = KERAS_CONVS.has(name);
        const conv: SourceConv = {
          framework: keras ? 'keras' : 'torch',
          callee: name,
          from: node.from,
          to: node.to,
          width: keras
            ? argRef(args.keywords.get('filters') ?? args.positional[0], text)
            : argRef(args.keywords.get('out_channels') ?? args.positional[1], text),
          inChannels: keras ? null : argRef(args.keywords.get('in_channels') ?? args.positional[0], text),
        };
        const attr = keras ? undefined : assignedName(node, text);
        if (attr) conv.attr = attr;
        const nameNode = args.keywords.get('name');
        if (nameNode?.name === 'String') {
          try {
            // Python and JSON agree on simple quoted names; anything fancier is left unnamed.
            const raw = text.slice(nameNode.from, nameNode.to);
            conv.name = JSON.parse(raw.startsWith("'") ? `"${raw.slice(1, -1).replace(/"/g, '\\"')}"` : raw) as string;
          } catch {
            /* an f-string or a prefixed string: no literal name */
          }
        }
        result.convs.push(conv);
      } else if (name === 'BatchNorm2d') {
        const args = readArgs(argList, text);
        const attr = assignedName(node, text);
        result.batchNorms.push({
          from: node.from,
          to: node.to,
          numFeatures: argRef(args.keywords.get('num_features') ?? args.positional[0], text),
          ...(attr ? { attr } : {}),
        });
      } else if (TORCH_UNPOOLS.has(name)) {
        // The module's attribute names it (`self.unpool = nn.MaxUnpool2d(2)`); a functional call's target is a tensor.
        const attr = name === 'MaxUnpool2d' ? assignedName(node, text) : undefined;
        result.unpools.push({ callee: name, from: node.from, to: node.to, ...(attr ? { attr } : {}) });
      } else if (name === 'Linear') {
        const args = readArgs(argList, text);
        const attr = assignedName(node, text);
        result.linears.push({
          from: node.from,
          to: node.to,
          inFeatures: argRef(args.keywords.get('in_features') ?? args.positional[0], text),
          outFeatures: argRef(args.keywords.get('out_features') ?? args.positional[1], text),
          ...(attr ? { attr } : {}),
        });
      }
    },
  });
  result.frameworks = [...frameworks];
  // A file that calls these layers but imports them indirectly still counts, by the calls it makes.
  for (const c of result.convs) if (!result.frameworks.includes(c.framework)) result.frameworks.push(c.framework);
  return result;
}

/** Does this file build a Keras or PyTorch convolutional model (what pruning applies to)? Used by the index. */
export function definesModel(source: PythonModelSource): boolean {
  return source.convs.length > 0;
}
