-- SQLite twin of the PostgreSQL migration 0021.
-- The stock of each day (UTC): in-stock DIDs per country and number type, recorded by the
-- server at start and then hourly (the day's row replaced until the day ends). The dashboard
-- draws the stock over time from it and forecasts the days of stock left at the rate of the
-- last 30 days (didhub_core::forecast). A row a day per country and type: kept.

CREATE TABLE stock_daily (
    day          TEXT NOT NULL,
    country      TEXT NOT NULL,
    number_type  TEXT NOT NULL,
    in_stock     INTEGER NOT NULL CHECK (in_stock >= 0),
    recorded_at  TEXT NOT NULL,
    PRIMARY KEY (day, country, number_type)
);
