-- mysql -h 127.0.0.1 -u root < examples/cdc/mariadb/setup.sql
-- The source table (database test) and the analytics table (database analytics).
CREATE TABLE IF NOT EXISTS test.orders (
    id BIGINT PRIMARY KEY,
    customer VARCHAR(64) NOT NULL,
    amount DECIMAL(10,2),
    status VARCHAR(16) NOT NULL DEFAULT 'new',
    created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
);
CREATE DATABASE IF NOT EXISTS analytics;
CREATE TABLE IF NOT EXISTS analytics.orders_analytics (
    id BIGINT PRIMARY KEY,
    customer VARCHAR(64) NOT NULL,
    amount DECIMAL(10,2),
    status VARCHAR(16) NOT NULL,
    created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    processed_at DATETIME(6) NOT NULL
);
