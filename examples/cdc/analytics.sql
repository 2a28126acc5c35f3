-- psql -h 127.0.0.1 -d postgres -f examples/cdc/analytics.sql   (the target table)
CREATE TABLE IF NOT EXISTS orders_analytics (
    id bigint PRIMARY KEY,
    customer text NOT NULL,
    amount numeric(10,2),
    status text NOT NULL,
    created_at timestamptz NOT NULL,
    processed_at timestamptz NOT NULL
);
