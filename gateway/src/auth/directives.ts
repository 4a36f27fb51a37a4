import {
  Kind,
  getNamedType,
  isInterfaceType,
  parse,
  type ConstDirectiveNode,
  type ConstValueNode,
  type DocumentNode,
  type GraphQLCompositeType,
  type GraphQLOutputType,
  type GraphQLSchema,
} from 'graphql';
import { hasScopes, type Principal } from './principal.js';
import { linkedDirectiveName } from '../supergraph/links.js';
import { ENFORCED_SECURITY_VERSION } from '../supergraph/security-links.js';

/** What it takes to see a field: authentication, and every listed `@requiresScopes` (each an OR of ANDs). */
export interface AccessRule {
  authenticated: boolean;
  scopes: (readonly (readonly string[])[])[];
}

const EMPTY: AccessRule = { authenticated: false, scopes: [] };

/**
 * The `@authenticated` and `@requiresScopes` directives of a supergraph, read from its core SDL
 * (the API schema has none of them). Directive names are resolved through the `@link` entries, so a
 * supergraph that imports them under another name (`as:`) is enforced the same.
 *
 * A field is protected by its own directives, by those on the type it returns (objects, interfaces,
 * scalars, enums), and, when it is an interface field, by those on the same field of every
 * implementation (a caller must not reach through the interface what the object would refuse).
 */
export class AuthPolicy {
  private readonly fields = new Map<string, AccessRule>();
  private readonly types = new Map<string, AccessRule>();

  constructor(coreSupergraphSdl: string) {
    const document = parse(coreSupergraphSdl);
    const names = directiveNames(document);
    if (!names.authenticated && !names.requiresScopes) return;
    const ruleOf = (directives: readonly ConstDirectiveNode[] | undefined): AccessRule | undefined => {
      let rule: AccessRule | undefined;
      for (const directive of directives ?? []) {
        if (directive.name.value === names.authenticated) {
          rule = { authenticated: true, scopes: rule?.scopes ?? [] };
        } else if (directive.name.value === names.requiresScopes) {
          const value = directive.arguments?.find((arg) => arg.name.value === 'scopes')?.value;
          rule = { authenticated: rule?.authenticated ?? false, scopes: [...(rule?.scopes ?? []), scopeSets(value)] };
        }
      }
      return rule;
    };
    for (const definition of document.definitions) {
      switch (definition.kind) {
        case Kind.OBJECT_TYPE_DEFINITION:
        case Kind.OBJECT_TYPE_EXTENSION:
        case Kind.INTERFACE_TYPE_DEFINITION:
        case Kind.INTERFACE_TYPE_EXTENSION:
          for (const field of definition.fields ?? []) {
            const key = `${definition.name.value}.${field.name.value}`;
            const rule = ruleOf(field.directives);
            if (rule) this.fields.set(key, merge(this.fields.get(key), rule));
          }
          break;
        default:
          break;
      }
      // The type itself may carry the directives too (objects, interfaces, scalars, enums).
      if (
        definition.kind === Kind.OBJECT_TYPE_DEFINITION ||
        definition.kind === Kind.INTERFACE_TYPE_DEFINITION ||
        definition.kind === Kind.SCALAR_TYPE_DEFINITION ||
        definition.kind === Kind.ENUM_TYPE_DEFINITION
      ) {
        const rule = ruleOf(definition.directives);
        if (rule) this.types.set(definition.name.value, merge(this.types.get(definition.name.value), rule));
      }
    }
  }

  /** Whether the supergraph protects anything at all (when not, operations are passed through untouched). */
  get isEmpty(): boolean {
    return this.fields.size === 0 && this.types.size === 0;
  }

  /** The rule for selecting `fieldName` on `parent` (whose type is `fieldType`), or undefined when open. */
  /** The rule on a type itself (`type Audit @authenticated`), which guards every object of that type. */
  typeRule(typeName: string): AccessRule | undefined {
    return this.types.get(typeName);
  }

  ruleFor(schema: GraphQLSchema, parent: GraphQLCompositeType, fieldName: string, fieldType: GraphQLOutputType): AccessRule | undefined {
    let rule = merge(this.fields.get(`${parent.name}.${fieldName}`), this.types.get(getNamedType(fieldType).name));
    if (isInterfaceType(parent)) {
      // Through the interface a caller must not reach what an implementation would refuse: its
      // field's rule, and the rule on the implementing type itself (`type Secret implements Node @authenticated`).
      for (const implementation of schema.getPossibleTypes(parent)) {
        rule = merge(rule, merge(this.fields.get(`${implementation.name}.${fieldName}`), this.types.get(implementation.name)));
      }
    }
    return rule === EMPTY ? undefined : rule;
  }
}

/** Whether a principal satisfies a rule; an anonymous caller satisfies only open rules. */
export function allows(rule: AccessRule, principal: Principal | undefined): boolean {
  const signedIn = principal !== undefined && principal.kind !== 'anonymous';
  if (rule.authenticated && !signedIn) return false;
  return rule.scopes.every((anyOf) => signedIn && hasScopes(principal, anyOf));
}

function merge(a: AccessRule | undefined, b: AccessRule | undefined): AccessRule {
  if (!a) return b ?? EMPTY;
  if (!b) return a;
  return { authenticated: a.authenticated || b.authenticated, scopes: [...a.scopes, ...b.scopes] };
}

function scopeSets(value: ConstValueNode | undefined): string[][] {
  // Malformed arguments fail closed: an empty alternative list can never be satisfied.
  if (value?.kind !== Kind.LIST) return [];
  return value.values.map((inner) =>
    inner.kind === Kind.LIST ? inner.values.map((scope) => (scope.kind === Kind.STRING ? scope.value : '\0invalid')) : ['\0invalid'],
  );
}

/**
 * The names under which the supergraph's `@link`s make the two directives available: only the
 * versions the gateway enforces (security-links.ts unmarks exactly those).
 */
function directiveNames(document: DocumentNode): { authenticated?: string | undefined; requiresScopes?: string | undefined } {
  return {
    authenticated: linkedDirectiveName(document, 'https://specs.apollo.dev/authenticated', 'authenticated', ENFORCED_SECURITY_VERSION),
    requiresScopes: linkedDirectiveName(document, 'https://specs.apollo.dev/requiresScopes', 'requiresScopes', ENFORCED_SECURITY_VERSION),
  };
}
