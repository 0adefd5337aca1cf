// Hasura's scalars as they arrive over the wire (the engine runs with stringified numerics), for the
// helper types written by hand; operation results use the generated types (operations.gen.ts),
// which map the same scalars the same way (scripts/codegen.ts).

/** numeric: a decimal string, e.g. "1250.000". Never parse it with Number. */
export type Numeric = string;
export type Uuid = string;
/** ISO 8601 timestamp with offset. */
export type Timestamptz = string;
