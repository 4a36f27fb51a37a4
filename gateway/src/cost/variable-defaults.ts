import { valueFromASTUntyped, type OperationDefinitionNode } from 'graphql';

/**
 * The variables as execution sees them: an operation's own default (`$n: Int = 100000`) for each
 * variable the request leaves out, which the subgraph receives too. Without it, a default would
 * slip past argument limits, be costed at the schema argument's default, and be refunded after.
 * Defaults are set as own properties, so a variable named `__proto__` stays a variable.
 */
export function withVariableDefaults(
  operation: OperationDefinitionNode,
  provided: Readonly<Record<string, unknown>>,
): Readonly<Record<string, unknown>> {
  let merged: Record<string, unknown> | undefined;
  for (const definition of operation.variableDefinitions ?? []) {
    const name = definition.variable.name.value;
    if (definition.defaultValue && !Object.prototype.hasOwnProperty.call(provided, name)) {
      merged ??= { ...provided };
      Object.defineProperty(merged, name, {
        value: valueFromASTUntyped(definition.defaultValue),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }
  return merged ?? provided;
}
