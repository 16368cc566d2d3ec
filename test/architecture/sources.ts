/**
 * The project's own source files (not tests) and the imports between them, read with the
 * TypeScript compiler's parser: what the architecture tests check.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import ts from 'typescript';

export interface SourceFile {
  /** From the repository root, with forward slashes: `src/engine/engine.ts`. */
  path: string;
  text: string;
}

export interface Import {
  from: string;
  to: string;
  /** `import type`, `export type`, or only `type` names: gone at run time. */
  typeOnly: boolean;
}

function walk(dir: string, out: string[]): void {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, out);
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts') && !name.endsWith('.d.ts')) {
      out.push(path);
    }
  }
}

let cached: SourceFile[] | undefined;

export function sourceFiles(): SourceFile[] {
  if (!cached) {
    const paths: string[] = [];
    walk('src', paths);
    cached = paths.sort().map((path) => ({
      path: path.split('\\').join('/'),
      text: readFileSync(path, 'utf8'),
    }));
  }
  return cached;
}

/** `./x.js` from `src/a/b.ts` -> `src/a/x.ts` (or its `index.ts`); undefined for packages. */
function resolve(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  const base = normalize(join(dirname(from), specifier))
    .split('\\')
    .join('/');
  const candidates = [base.replace(/\.js$/, '.ts'), `${base}.ts`, `${base}/index.ts`];
  const found = candidates.find((candidate) => existsSync(candidate));
  if (!found) throw new Error(`${from}: cannot resolve ${specifier}`);
  return relative('.', found).split('\\').join('/');
}

function typeOnlyImport(node: ts.ImportDeclaration): boolean {
  const clause = node.importClause;
  if (!clause) return false;
  if (clause.isTypeOnly) return true;
  if (clause.name) return false;
  const bindings = clause.namedBindings;
  return (
    bindings !== undefined &&
    ts.isNamedImports(bindings) &&
    bindings.elements.length > 0 &&
    bindings.elements.every((element) => element.isTypeOnly)
  );
}

function typeOnlyExport(node: ts.ExportDeclaration): boolean {
  if (node.isTypeOnly) return true;
  const clause = node.exportClause;
  return (
    clause !== undefined &&
    ts.isNamedExports(clause) &&
    clause.elements.length > 0 &&
    clause.elements.every((element) => element.isTypeOnly)
  );
}

/** Every import between source files (packages left out), dynamic `import()` included. */
export function sourceImports(): Import[] {
  const imports: Import[] = [];
  for (const file of sourceFiles()) {
    const source = ts.createSourceFile(file.path, file.text, ts.ScriptTarget.Latest, true);
    const add = (specifier: string, typeOnly: boolean) => {
      const to = resolve(file.path, specifier);
      if (to) imports.push({ from: file.path, to, typeOnly });
    };
    const visit = (node: ts.Node): void => {
      if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
        add(node.moduleSpecifier.text, typeOnlyImport(node));
      } else if (
        ts.isExportDeclaration(node) &&
        node.moduleSpecifier &&
        ts.isStringLiteral(node.moduleSpecifier)
      ) {
        add(node.moduleSpecifier.text, typeOnlyExport(node));
      } else if (
        ts.isCallExpression(node) &&
        node.expression.kind === ts.SyntaxKind.ImportKeyword &&
        node.arguments[0] &&
        ts.isStringLiteral(node.arguments[0])
      ) {
        add(node.arguments[0].text, false);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return imports;
}
