"""What a GraphQL document may cost before it runs (DESIGN §7.3: huge, deep or batched queries are refused).

Checked after graphql-core's own validation (so fragment cycles are already refused), on the parsed
document, with fragments expanded through a memo so a "fragment bomb" (each fragment spreading the next
twice) is measured in linear time. Introspection subtrees (`__schema`, `__type`) are not counted: the
standard introspection query is deeper than any query of this schema, and the size and token limits still
bound it.

- depth: GRAPHQL_MAX_DEPTH (8) nested selection sets; this schema's deepest real query is 3.
- fields: GRAPHQL_MAX_FIELDS (64) selected fields in the whole operation, fragments expanded.
- one root field per mutation: aliases would otherwise run several `auth` attempts in one request.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)


@dataclass(frozen=True)
class Cost:
    depth: int
    fields: int


def check_limits(document: DocumentNode, *, max_depth: int, max_fields: int) -> list[GraphQLError]:
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    memo: dict[str, Cost] = {}
    errors: list[GraphQLError] = []
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        cost = _cost(definition.selection_set, fragments, memo)
        if cost.depth > max_depth:
            errors.append(GraphQLError(f"Query is too deep: {cost.depth} levels, at most {max_depth}."))
        if cost.fields > max_fields:
            errors.append(GraphQLError(f"Query selects too many fields: {cost.fields}, at most {max_fields}."))
        roots = _root_fields(definition.selection_set, fragments, {})
        if definition.operation is OperationType.MUTATION and roots > 1:
            errors.append(GraphQLError("A mutation may select one field only."))
    return errors


def _cost(selection_set: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode], memo: dict[str, Cost]) -> Cost:
    depth, fields = 0, 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            if selection.name.value.startswith("__") and selection.name.value != "__typename":
                continue  # introspection: bounded by the size limits only (see the module docstring)
            inner = _cost(selection.selection_set, fragments, memo) if selection.selection_set else Cost(0, 0)
            depth, fields = max(depth, inner.depth + 1), fields + inner.fields + 1
        elif isinstance(selection, InlineFragmentNode):
            inner = _cost(selection.selection_set, fragments, memo)
            depth, fields = max(depth, inner.depth), fields + inner.fields
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name not in memo:
                fragment = fragments.get(name)
                memo[name] = Cost(0, 0)  # a cycle (already refused by validation) cannot recurse forever
                memo[name] = _cost(fragment.selection_set, fragments, memo) if fragment else Cost(0, 0)
            inner = memo[name]
            depth, fields = max(depth, inner.depth), fields + inner.fields
    return Cost(depth, fields)


def _root_fields(
    selection_set: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode], memo: dict[str, int]
) -> int:
    count = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            count += selection.name.value != "__typename"
        elif isinstance(selection, InlineFragmentNode):
            count += _root_fields(selection.selection_set, fragments, memo)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name not in memo:
                fragment = fragments.get(name)
                memo[name] = 0
                memo[name] = _root_fields(fragment.selection_set, fragments, memo) if fragment else 0
            count += memo[name]
    return count
