-- The service-level alert last mailed to support for a ticket's first response: at_risk,
-- then breached. Each is mailed once; a new deadline (a change of class) clears it.
ALTER TABLE tickets ADD COLUMN sla_alert TEXT CHECK (sla_alert IN ('at_risk', 'breached'));

-- The day inbound calls of an order with instant virtual porting are promised to work (2
-- working days from submission), beside the porting date the order promises.
ALTER TABLE orders ADD COLUMN ivp_by DATE;
