-- Days an operator closes in a country's working-day calendar, on top of its weekend and its
-- national holidays (didhub-core/src/calendar.rs): every count of working days there skips
-- them. One row per country and day.
CREATE TABLE calendar_closures (
    country     text NOT NULL CHECK (length(country) = 2),
    closed_on   date NOT NULL,
    reason      text NOT NULL,
    created_at  timestamptz NOT NULL,
    created_by  text NOT NULL,
    PRIMARY KEY (country, closed_on)
);
