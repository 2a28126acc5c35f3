-- psql -h 127.0.0.1 -d test -f examples/cdc/setup.sql   (the source table)
CREATE TABLE IF NOT EXISTS orders (
    id bigint PRIMARY KEY,
    customer text NOT NULL,
    amount numeric(10,2),
    status text NOT NULL DEFAULT 'new',
    created_at timestamptz NOT NULL DEFAULT now()
);
-- The analytics table lives in database postgres (see analytics.sql).
