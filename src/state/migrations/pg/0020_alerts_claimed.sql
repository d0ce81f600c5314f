-- A replica's claim of an alert is a lease (src/panel/alerts.ts): sent_at is set once delivery ended,
-- so an alert whose replica stopped before sending it is taken again. Rows sent before were marked
-- sent when claimed, and stay so.
ALTER TABLE "panel_alerts" ADD COLUMN "claimed_at" bigint;