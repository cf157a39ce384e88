-- Free (in-stock) numbers per aligned block, so that block allocation looks at blocks, not at
-- the whole stock. A block of size 10^k is the numbers sharing all but their last k digits;
-- blocks of 100, 1,000, 10,000 and 100,000 are counted (blocks of 10 are read from dids).

CREATE TABLE stock_blocks (
    size         bigint NOT NULL,
    prefix       text NOT NULL,
    operator_id  uuid NOT NULL,
    country      text NOT NULL,
    number_type  text NOT NULL,
    free         bigint NOT NULL,
    PRIMARY KEY (size, prefix, operator_id, country, number_type)
);
CREATE INDEX stock_blocks_fit ON stock_blocks (size, country, number_type, free);

INSERT INTO stock_blocks (size, prefix, operator_id, country, number_type, free)
    SELECT 100, substr(number, 1, length(number) - 2), operator_id, country, number_type, count(*)
    FROM dids WHERE status = 'in_stock' GROUP BY substr(number, 1, length(number) - 2), operator_id, country, number_type;
INSERT INTO stock_blocks (size, prefix, operator_id, country, number_type, free)
    SELECT 1000, substr(number, 1, length(number) - 3), operator_id, country, number_type, count(*)
    FROM dids WHERE status = 'in_stock' GROUP BY substr(number, 1, length(number) - 3), operator_id, country, number_type;
INSERT INTO stock_blocks (size, prefix, operator_id, country, number_type, free)
    SELECT 10000, substr(number, 1, length(number) - 4), operator_id, country, number_type, count(*)
    FROM dids WHERE status = 'in_stock' GROUP BY substr(number, 1, length(number) - 4), operator_id, country, number_type;
INSERT INTO stock_blocks (size, prefix, operator_id, country, number_type, free)
    SELECT 100000, substr(number, 1, length(number) - 5), operator_id, country, number_type, count(*)
    FROM dids WHERE status = 'in_stock' GROUP BY substr(number, 1, length(number) - 5), operator_id, country, number_type;
