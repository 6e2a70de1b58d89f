// Scopes for tidy(): every Tensor created while a scope is open is recorded in the innermost one.
import type { Tensor } from './tensor.js';

const scopes: Set<Tensor>[] = [];

/** Records a new tensor in the innermost open tidy scope, if any. */
export function track(tensor: Tensor): void {
  scopes[scopes.length - 1]?.add(tensor);
}

export function openScope(): Set<Tensor> {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  return scope;
}

/** Closes `scope`: disposes what it recorded except `keep`, which moves to the enclosing scope. */
export function closeScope(scope: Set<Tensor>, keep: Set<Tensor>): void {
  const index = scopes.lastIndexOf(scope);
  if (index >= 0) scopes.splice(index, 1);
  const parent = scopes[scopes.length - 1];
  for (const tensor of scope) {
    if (keep.has(tensor)) parent?.add(tensor);
    else tensor.dispose();
  }
}
