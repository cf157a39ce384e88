-- The service-level alert last mailed to support for a ticket's first response: at_risk,
-- then breached. Each is mailed once; a new deadline (a change of class) clears it.
ALTER TABLE tickets ADD COLUMN sla_alert TEXT CHECK (sla_alert IN ('at_risk', 'breached'));
