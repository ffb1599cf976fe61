/** Readers of a synthesized template: IAM statements by role and the resolved workflow ASL. */
import type { Template } from 'aws-cdk-lib/assertions';

export interface PolicyStatement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
}

type TemplateResources = Record<string, { Type: string; Properties: Record<string, unknown> }>;

function resources(template: Template): TemplateResources {
  return (template.toJSON() as { Resources: TemplateResources }).Resources;
}

/** Logical id of the IAM role that a resource's `Role` or `RoleArn` property points at. */
export function roleIdOf(template: Template, logicalId: string): string {
  const resource = resources(template)[logicalId];
  if (resource === undefined) {
    throw new Error(`Resource ${logicalId} is not in the template.`);
  }
  const role = (resource.Properties.Role ?? resource.Properties.RoleArn) as { 'Fn::GetAtt'?: [string, string] };
  const roleId = role['Fn::GetAtt']?.[0];
  if (roleId === undefined) {
    throw new Error(`Resource ${logicalId} names no role created in this stack.`);
  }
  return roleId;
}

/** Statements of every inline policy attached to a role. */
export function statementsOfRole(template: Template, roleId: string): PolicyStatement[] {
  return Object.values(resources(template))
    .filter((resource) => resource.Type === 'AWS::IAM::Policy')
    .filter((policy) => (policy.Properties.Roles as Array<{ Ref?: string }>).some((role) => role.Ref === roleId))
    .flatMap((policy) => (policy.Properties.PolicyDocument as { Statement: PolicyStatement[] }).Statement);
}

/** Statements of the inline policies of the role that a function or state machine runs with. */
export function statementsOf(template: Template, logicalId: string): PolicyStatement[] {
  return statementsOfRole(template, roleIdOf(template, logicalId));
}

export function actionsOf(statements: readonly PolicyStatement[]): string[] {
  return statements.flatMap((statement) => (Array.isArray(statement.Action) ? statement.Action : [statement.Action]));
}

/** Logical ids named by `Fn::GetAtt` anywhere in a value, e.g. in a statement's `Resource`. */
export function getAttIds(value: unknown): string[] {
  const ids: string[] = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      node.forEach(visit);
    } else if (node !== null && typeof node === 'object') {
      for (const [key, child] of Object.entries(node)) {
        if (key === 'Fn::GetAtt' && Array.isArray(child) && typeof child[0] === 'string') {
          ids.push(child[0]);
        } else {
          visit(child);
        }
      }
    }
  };
  visit(value);
  return ids;
}

/** Returns the ARN that `resolveDefinition` puts in place of `Fn::GetAtt: [<logicalId>, Arn]`. */
export function placeholderArn(logicalId: string): string {
  return `arn:aws:lambda:us-east-1:123456789012:function:${logicalId}`;
}

/**
 * Parses a state machine's `DefinitionString` (an `Fn::Join` of strings and `Fn::GetAtt`
 * ARNs), replacing each ARN with `placeholderArn(<logical id>)`.
 */
export function resolveDefinition(definitionString: unknown): Record<string, unknown> {
  if (typeof definitionString === 'string') {
    return JSON.parse(definitionString) as Record<string, unknown>;
  }

  const join = (definitionString as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (join === undefined) {
    throw new Error(`DefinitionString is neither a string nor an Fn::Join: ${JSON.stringify(definitionString)}`);
  }
  const [separator, parts] = join;
  const text = parts
    .map((part) => {
      if (typeof part === 'string') {
        return part;
      }
      const [logicalId, attribute] = (part as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt'] ?? [];
      if (logicalId === undefined || attribute !== 'Arn') {
        throw new Error(`Unexpected token in the definition: ${JSON.stringify(part)}`);
      }
      return placeholderArn(logicalId);
    })
    .join(separator);
  return JSON.parse(text) as Record<string, unknown>;
}
