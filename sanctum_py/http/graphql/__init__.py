"""The GraphQL dialect (seed 002): POST /graphql, graphql-core over the shared core."""
