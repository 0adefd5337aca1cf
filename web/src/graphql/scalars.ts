// Hasura's scalars as they arrive over the wire (the engine runs with stringified numerics).

/** numeric: a decimal string, e.g. "1250.000". Never parse it with Number. */
export type Numeric = string;
/** bigint (e.g. price_minor): a string of digits. */
export type BigIntString = string | number;
export type Uuid = string;
/** ISO 8601 timestamp with offset. */
export type Timestamptz = string;
/** YYYY-MM-DD */
export type DateString = string;
